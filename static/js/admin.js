// Backoffice admin glue: every state-changing request sqladmin's scripts make carries the
// page's CSRF token (header for AJAX, hidden field for forms).
(function () {
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";
  if (window.jQuery) {
    window.jQuery.ajaxSetup({ headers: { "X-CSRF-Token": token } });
  }
  var originalFetch = window.fetch;
  window.fetch = function (input, init) {
    init = init || {};
    var method = (init.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") {
      init.headers = new Headers(init.headers || {});
      init.headers.set("X-CSRF-Token", token);
    }
    return originalFetch.call(this, input, init);
  };
  document.querySelectorAll("form").forEach(function (form) {
    if ((form.getAttribute("method") || "GET").toUpperCase() === "POST" &&
        !form.querySelector('input[name="csrf_token"]')) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "csrf_token";
      input.value = token;
      form.appendChild(input);
    }
  });
})();
