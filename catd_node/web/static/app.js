/* Small helpers for keyboard-only capture and the image viewer; the pages work without them. */
(function () {
  "use strict";
  var img = document.getElementById("acta-img");
  var scale = 1, angle = 0;
  function apply() {
    if (img) { img.style.transform = "scale(" + scale + ") rotate(" + angle + "deg)"; }
  }
  function act(name) {
    if (name === "zoom-in") { scale = Math.min(4, scale + 0.25); }
    else if (name === "zoom-out") { scale = Math.max(0.5, scale - 0.25); }
    else if (name === "rotate") { angle = (angle + 90) % 360; }
    else if (name === "reset") { scale = 1; angle = 0; }
    apply();
  }
  var buttons = document.querySelectorAll("[data-act]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (e) { act(e.currentTarget.getAttribute("data-act")); });
  }
  var values = document.querySelectorAll("input.value");
  function next(input) {
    for (var j = 0; j < values.length; j++) {
      if (values[j] === input) {
        if (j + 1 < values.length) { values[j + 1].focus(); values[j + 1].select(); return true; }
        return false;
      }
    }
    return false;
  }
  for (var k = 0; k < values.length; k++) {
    values[k].addEventListener("keydown", function (e) {
      var key = e.key || "";
      var input = e.currentTarget;
      if (e.ctrlKey || e.altKey || e.metaKey) { return; }
      if (key === "i" || key === "I") { e.preventDefault(); input.value = "I"; next(input); }
      else if (key === "s" || key === "S") { e.preventDefault(); input.value = "S"; next(input); }
      else if (key === "Enter") { if (next(input)) { e.preventDefault(); } }
    });
  }
  var sections = {"1": "/acopio", "2": "/captura", "3": "/verificacion", "0": "/"};
  document.addEventListener("keydown", function (e) {
    if (e.altKey && !e.ctrlKey && !e.metaKey && sections[e.key]) {
      e.preventDefault();
      window.location.href = sections[e.key];
      return;
    }
    var tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") { return; }
    if (e.key === "+" || e.key === "=") { act("zoom-in"); }
    else if (e.key === "-") { act("zoom-out"); }
    else if (e.key === "r" || e.key === "R") { act("rotate"); }
    else if (e.key === "0") { act("reset"); }
  });
}());
