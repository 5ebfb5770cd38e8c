// PNG downloads of the SVG figures, drawn by the reader's own browser: the server renders SVG only
// (no rasteriser to install), and every browser can paint an SVG onto a canvas. Links stay hidden
// where this cannot run, so nobody is offered a download that would not work.
(function () {
  "use strict";
  var SCALE = 2;  // twice the figure's own pixel size: sharp when printed or put on a slide

  function download(blob, name) {
    var url = URL.createObjectURL(blob);
    var a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  function toPng(svgText, name) {
    var svg = new DOMParser().parseFromString(svgText, "image/svg+xml").documentElement;
    var width = parseFloat(svg.getAttribute("width")), height = parseFloat(svg.getAttribute("height"));
    var image = new Image();
    var source = URL.createObjectURL(new Blob([svgText], { type: "image/svg+xml" }));
    image.onload = function () {
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(width * SCALE);
      canvas.height = Math.round(height * SCALE);
      var context = canvas.getContext("2d");
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(source);
      canvas.toBlob(function (blob) { download(blob, name); }, "image/png");
    };
    image.src = source;
  }

  function upgrade(link) {
    link.hidden = false;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      fetch(link.dataset.pngFrom, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (text) { toPng(text, link.getAttribute("download")); });
    });
  }

  if (!window.fetch || !window.HTMLCanvasElement || !HTMLCanvasElement.prototype.toBlob) return;
  document.querySelectorAll("a[data-png-from]").forEach(upgrade);
  // Blocks swapped in by live.js bring new links.
  new MutationObserver(function () {
    document.querySelectorAll("a[data-png-from][hidden]").forEach(upgrade);
  }).observe(document.body, { childList: true, subtree: true });
})();
