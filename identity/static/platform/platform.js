// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  function csrfToken() {
    var field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  // Confirmation dialogs (<details class="confirm">): "Keep it" and Escape close them.
  document.addEventListener("click", function (event) {
    var keep = event.target.closest("[data-close-confirm]");
    if (keep) {
      var details = keep.closest("details");
      if (details) { details.open = false; details.querySelector("summary").focus(); }
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.confirm[open]").forEach(function (details) {
      details.open = false;
      details.querySelector("summary").focus();
    });
  });
  // Opening a confirmation moves focus to its question's destructive button.
  document.querySelectorAll("details.confirm").forEach(function (details) {
    details.addEventListener("toggle", function () {
      if (details.open) {
        var button = details.querySelector(".confirm-panel button[type=submit]");
        if (button) button.focus();
      }
    });
  });

  // Copy buttons: <button data-copy="element-id">.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.getAttribute("data-copy"));
      var text = source ? source.textContent.trim() : "";
      var status = document.getElementById(button.getAttribute("data-copy") + "-status");
      function done(message) { if (status) status.textContent = message; }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done("Copied."); }, function () { select(source); done("Selected: press Ctrl+C to copy."); });
      } else {
        select(source);
        done(document.execCommand && document.execCommand("copy") ? "Copied." : "Selected: press Ctrl+C to copy.");
      }
    });
  });
  function select(node) {
    if (!node) return;
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // The person's time zone, detected once by the browser and saved to the profile.
  var detectUrl = document.body.getAttribute("data-detect-time-zone");
  if (detectUrl && window.Intl && window.fetch) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    var token = csrfToken();
    if (zone && token) {
      var body = new URLSearchParams({ time_zone: zone, detected: "1" });
      fetch(detectUrl, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "X-CSRFToken": token, "X-Requested-With": "fetch" },
      }).then(function (response) {
        if (response.ok) document.body.setAttribute("data-time-zone-saved", zone);
      });
    }
  }

  // Consent screen: choosing an account shows that account's lists at once (no round trip).
  document.querySelectorAll("[data-account-picker]").forEach(function (picker) {
    var service = picker.getAttribute("data-account-picker");
    function show() {
      var checked = picker.querySelector("input[type=radio]:checked");
      document.querySelectorAll('[data-account-panel^="' + service + ':"]').forEach(function (panel) {
        var mine = checked && panel.getAttribute("data-account-panel") === service + ":" + checked.value;
        panel.hidden = !mine;
        panel.querySelectorAll("input").forEach(function (input) { input.disabled = !mine; });
      });
    }
    picker.addEventListener("change", function () { show(); updateCounts(); });
    show();
  });
  var updateBtn = document.querySelector("[data-update-button]");
  if (updateBtn && document.querySelector("[data-account-picker]")) updateBtn.hidden = true;

  // Selection counts and the "selected" summary beside each resource list.
  function updateCounts() {
    document.querySelectorAll("[data-selection]").forEach(function (list) {
      var boxes = Array.prototype.filter.call(list.querySelectorAll("input[type=checkbox]"), function (box) {
        return !box.disabled;
      });
      var picked = boxes.filter(function (box) { return box.checked; });
      var key = list.getAttribute("data-selection");
      var count = document.querySelector('[data-count="' + key + '"]');
      if (count) count.textContent = String(picked.length);
      var summary = document.querySelector('[data-summary="' + key + '"]');
      if (summary) {
        summary.textContent = picked.length
          ? picked.map(function (box) { return box.getAttribute("data-label"); }).join(", ")
          : "nothing yet";
      }
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.closest("[data-selection]")) updateCounts();
  });
  updateCounts();
})();
