// Progress for large export files, on the upload form (the bytes sent, then the server reading and
// deduplicating them for the preview) and on the preview's confirm form (the import itself). Each
// form marked data-progress is sent with XMLHttpRequest so the progress can be shown; a redirect
// (to the preview) is followed, any other answer (the summary, or the error) replaces this page, as
// without JavaScript, where the forms post as usual.
(function () {
  "use strict";
  if (!window.FormData || !window.XMLHttpRequest) return;

  function watch(form) {
    var box = form.querySelector(".progress");
    var bar = box.querySelector("progress"), label = box.querySelector("[role=status]");
    var button = form.querySelector("button[type=submit]");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var request = new XMLHttpRequest();
      var action = form.action || window.location.href;
      request.open("POST", action);
      request.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable || e.total < 100000) return;  // a small form goes up at once
        bar.value = Math.round(100 * e.loaded / e.total);
        label.textContent = "Uploading: " + bar.value + "%";
      });
      request.upload.addEventListener("load", function () {
        bar.removeAttribute("value");  // indeterminate while the server works
        label.textContent = form.getAttribute("data-working");
      });
      request.addEventListener("load", function () {
        if (request.responseURL && request.responseURL !== new URL(action, window.location.href).href) {
          window.location.replace(request.responseURL);  // the preview, its own page with its own address
          return;
        }
        document.open();
        document.write(request.responseText);
        document.close();
      });
      request.addEventListener("error", function () {
        label.textContent = "The connection was lost; nothing was imported. Try again.";
        button.disabled = false;
      });
      box.hidden = false;
      label.textContent = form.getAttribute("data-working");
      button.disabled = true;
      request.send(new FormData(form));
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-progress]"), watch);
})();
