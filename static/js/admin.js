// Backoffice admin glue. Every state-changing request carries the page's CSRF token
// (header for AJAX, hidden field for forms), and sqladmin's GET action links become POSTs.
(function () {
  var meta = document.querySelector('meta[name="csrf-token"]');
  var token = meta ? meta.getAttribute("content") : "";

  if (window.jQuery) {
    window.jQuery.ajaxSetup({ headers: { "X-CSRF-Token": token } });
  }

  function addTokenTo(form) {
    if ((form.getAttribute("method") || "GET").toUpperCase() === "POST" &&
        !form.querySelector('input[name="csrf_token"]')) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "csrf_token";
      input.value = token;
      form.appendChild(input);
    }
  }
  document.querySelectorAll("form").forEach(addTokenTo);

  function postTo(url) {
    var form = document.createElement("form");
    form.method = "POST";
    form.action = url;
    form.style.display = "none";
    addTokenTo(form);
    document.body.appendChild(form);
    form.submit();
  }

  function selectedPks() {
    var pks = [];
    document.querySelectorAll(".select-box:checked").forEach(function (box) {
      var hidden = box.parentElement.querySelector('input[type="hidden"]');
      if (hidden) { pks.push(hidden.value); }
    });
    return pks;
  }

  // List page: action menu entries and their confirmation buttons.
  if (window.jQuery) {
    window.jQuery("[id^='action-custom-']").off("click");
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a");
    if (!link) { return; }
    // List page: an Actions entry links to its confirmation page; the ticked rows go with it
    // (with none ticked, that page offers all the rows matching the list's search).
    if (link.hasAttribute("data-bulk-confirm")) {
      var ticked = selectedPks();
      if (ticked.length) {
        event.preventDefault();
        var href = link.getAttribute("href");
        window.location.href = href + (href.indexOf("?") === -1 ? "?" : "&") + "pks=" + ticked.join(",");
      }
      return;
    }
    if (link.id && link.id.indexOf("action-custom-") === 0 && link.getAttribute("data-url")) {
      event.preventDefault();
      postTo(link.getAttribute("data-url") + "?pks=" + selectedPks().join(","));
      return;
    }
    // Details page: action buttons are plain links to …/action/<name>?pks=<id>.
    var href = link.getAttribute("href") || "";
    if (href.indexOf("/action/") !== -1 && href.indexOf("?pks=") !== -1) {
      event.preventDefault();
      postTo(href);
    }
  }, true);

  // Moments (app/admin/display.py): the server writes them in ADMIN_TIMEZONE; here they
  // are shown in the browser's own zone, to the minute. The exact value stays on hover.
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  document.querySelectorAll("time[datetime]").forEach(function (element) {
    var value = element.getAttribute("datetime");
    var moment = new Date(value);
    if (value.length <= 10 || isNaN(moment.getTime())) {
      return;  // a calendar date, or not a moment we wrote
    }
    var zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
      .formatToParts(moment)
      .filter(function (part) { return part.type === "timeZoneName"; })[0];
    element.textContent = moment.getFullYear() + "-" + pad(moment.getMonth() + 1) + "-" +
      pad(moment.getDate()) + " " + pad(moment.getHours()) + ":" + pad(moment.getMinutes()) +
      (zone ? " " + zone.value : "");
  });

  // Copy buttons (tokens shown once). They arrive disabled and are enabled here, once
  // they work: a click while the page's scripts were still loading did nothing.
  document.querySelectorAll("[data-copy-target]").forEach(function (button) {
    if (!navigator.clipboard) {
      return;  // no clipboard API (an insecure origin): the token is selectable text
    }
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (target) {
        navigator.clipboard.writeText(target.textContent.trim());
        button.textContent = "Copied";
      }
    });
    button.disabled = false;
  });
})();
