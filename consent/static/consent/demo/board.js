// Keeps the demo's status table true: which gated tags ran, which cookies exist.
(function () {
  function mark(id) {
    var cell = document.getElementById(id);
    if (cell) { cell.textContent = "ran"; cell.className = "ran"; }
  }
  function showCookies() {
    var names = document.cookie.split(/;\s*/).filter(Boolean).map(function (c) { return c.split("=")[0]; });
    document.getElementById("cookies").textContent = names.length ? names.join(", ") : "(none)";
  }
  document.getElementById("pixel").addEventListener("load", function () { mark("status-pixel"); });
  document.querySelector(".video iframe").addEventListener("load", function () {
    if (this.getAttribute("src")) { mark("status-video"); }
  });
  document.addEventListener("consent:change", showCookies);
  document.addEventListener("demo:ran", function (e) { mark(e.detail); showCookies(); });
  showCookies();
})();
