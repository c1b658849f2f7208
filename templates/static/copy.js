// Copy buttons: a button with data-copy="<id>" copies that field's text to the clipboard. The
// buttons are hidden until this script runs, so a browser without scripts shows none that would
// do nothing; the field can still be selected and copied by hand, or downloaded.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var field = document.getElementById(button.dataset.copy);
  var status = document.getElementById(button.dataset.copy + "-copied");
  if (!field || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value || field.textContent).then(function () {
      if (status) {
        status.textContent = "Copied.";
      }
    }, function () {
      field.select();
      if (status) {
        status.textContent = "Select the key and copy it by hand.";
      }
    });
  });
});
