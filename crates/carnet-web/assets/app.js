// Carnet's small behaviours, loaded as a file (the CSP forbids inline scripts).
(function () {
  "use strict";
  // "/" focuses the global search, unless the user is typing somewhere.
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (event.key === "/" && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
      var search = document.getElementById("global-search");
      if (search) {
        event.preventDefault();
        search.focus();
      }
    }
  });
  // Selects marked data-autosubmit submit their form on change (the workspace switcher).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.hasAttribute && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });
  // Toasts fade after a few seconds.
  window.addEventListener("load", function () {
    document.querySelectorAll(".toast").forEach(function (toast) {
      setTimeout(function () { toast.remove(); }, 6000);
    });
  });
})();
