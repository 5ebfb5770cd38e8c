// Upload progress for large export files: the form is sent with XMLHttpRequest so the bytes sent
// can be shown, then the server's answer (the same page with the summary or the error) replaces
// this one. Without JavaScript the form posts as usual.
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form || !window.FormData || !window.XMLHttpRequest) return;
  var box = document.getElementById("import-progress");
  var bar = box.querySelector("progress"), label = box.querySelector("[role=status]");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action || window.location.href);
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) return;
      bar.value = Math.round(100 * e.loaded / e.total);
      label.textContent = "Uploading: " + bar.value + "%";
    });
    request.upload.addEventListener("load", function () {
      bar.removeAttribute("value");  // indeterminate while the server reads and deduplicates
      label.textContent = "Uploaded; reading, checking and deduplicating every record…";
    });
    request.addEventListener("load", function () {
      document.open();
      document.write(request.responseText);
      document.close();
    });
    request.addEventListener("error", function () {
      label.textContent = "The upload failed (connection lost); nothing was imported. Try again.";
      form.querySelector("button[type=submit]").disabled = false;
    });
    box.hidden = false;
    form.querySelector("button[type=submit]").disabled = true;
    request.send(new FormData(form));
  });
})();
