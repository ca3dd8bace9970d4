// The board's only script besides htmx: a campaign picked in the toolbar applies at once. It lives in a file
// (not an onchange attribute) because the Content-Security-Policy allows scripts from this site only.
document.addEventListener("change", (event) => {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
    target.form.submit();
  }
});
