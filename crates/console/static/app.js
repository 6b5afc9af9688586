// Small enhancements; every page works without them except signing in and copying.
'use strict';
(function () {
  const busy = document.getElementById('busy');

  // Copy to clipboard: <button data-copy="element-id">.
  document.querySelectorAll('[data-copy]').forEach((button) => {
    button.addEventListener('click', async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      const label = button.textContent;
      try {
        await navigator.clipboard.writeText(source.textContent);
        button.textContent = 'Copied';
      } catch {
        // Without clipboard access, select the text so that the keyboard can copy it.
        const range = document.createRange();
        range.selectNodeContents(source);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        button.textContent = 'Selected: press Ctrl+C';
      }
      setTimeout(() => { button.textContent = label; }, 2000);
    });
  });

  // JSON editors: checked as they are typed and before they are sent.
  function checkJson(area) {
    const box = area.form && area.form.querySelector('#json-error');
    try {
      JSON.parse(area.value);
      area.removeAttribute('aria-invalid');
      if (box) box.hidden = true;
      return true;
    } catch (e) {
      area.setAttribute('aria-invalid', 'true');
      if (box) {
        box.textContent = 'The document is not valid JSON: ' + e.message;
        box.hidden = false;
      }
      return false;
    }
  }
  document.querySelectorAll('textarea[data-json]').forEach((area) => {
    area.addEventListener('input', () => checkJson(area));
  });

  document.querySelectorAll('form').forEach((form) => {
    if (form.id === 'sign-in') return;
    form.addEventListener('submit', (event) => {
      const json = form.querySelector('textarea[data-json]');
      if (json && !checkJson(json)) {
        event.preventDefault();
        json.focus();
        return;
      }
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
        event.preventDefault();
        return;
      }
      // A loading indicator, and no second submission while the first is under way.
      if (form.method.toLowerCase() === 'post') {
        form.querySelectorAll('button[type=submit]').forEach((b) => { b.disabled = true; });
      }
      if (busy) busy.hidden = false;
    });
  });

  // Pages restored from the back-forward cache come back usable.
  window.addEventListener('pageshow', () => {
    if (busy) busy.hidden = true;
    document.querySelectorAll('button[type=submit]').forEach((b) => { b.disabled = false; });
  });
})();
