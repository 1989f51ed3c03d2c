/* A contribution file's page while its import is queued or running: reload it every few seconds.
   Without script the page's 刷新 link does the same. */
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var progress = document.querySelector("[data-refresh]");
    if (!progress) { return; }
    var seconds = parseInt(progress.getAttribute("data-refresh"), 10) || 3;
    window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
  });
})();
