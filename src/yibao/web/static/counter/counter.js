/* Agency counter: small conveniences only; every page works with the keyboard and without script. */
(function () {
  "use strict";

  // A page restored from the back/forward cache would show a person's data again: reload it.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) { window.location.reload(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var choice = document.getElementById("reason_choice");
    var other = document.getElementById("reason_other");
    if (choice && other) {
      // "其他" means the reason is typed: go straight to the text field.
      choice.addEventListener("change", function () {
        if (choice.value === choice.options[choice.options.length - 1].value) { other.focus(); }
      });
    }
    var key = document.getElementById("key");
    document.querySelectorAll("input[name=key_kind]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        key.maxLength = radio.value === "card_number" ? 9 : 18;
        key.focus();
      });
    });
  });
})();
