() => {
  // What Gradio's widgets leave out for keyboard and screen-reader users, added to the page as
  // Gradio draws it (the steps, the result and the tabs are drawn after load, and again later).

  // Phones get the right keypad: whole numbers for Age, a decimal one for the other numbers.
  const keypads = () => document.querySelectorAll('.mp-numeric input').forEach((el) => {
    const whole = el.closest('.mp-integer') !== null;
    el.setAttribute('inputmode', whole ? 'numeric' : 'decimal');
    el.setAttribute('autocomplete', 'off');
  });

  // A radio group is one tab stop whose choices take the arrow keys: that needs one shared
  // name (Gradio gives each radio its own), and a name for the group itself.
  const radioGroups = () => document.querySelectorAll('fieldset').forEach((group) => {
    const radios = group.querySelectorAll('input[type="radio"]');
    if (!radios.length || !group.id) return;
    radios.forEach((radio) => { if (radio.name !== group.id) radio.name = group.id; });
    group.setAttribute('role', 'radiogroup');
    const title = group.querySelector('[data-testid="block-info"]');
    if (title) {
      title.id = title.id || `${group.id}-title`;
      group.setAttribute('aria-labelledby', title.id);
    }
  });

  // Each field's hint and error are tied to its input (aria-describedby), and a field with an
  // error says so (aria-invalid). The errors are the page's own, under each field.
  const fieldTargets = (block) => {
    if (block.matches('fieldset')) return [block];
    return [...block.querySelectorAll('input:not([type="range"]), textarea')];
  };
  const describe = () => document.querySelectorAll('[id^="mp-field-"]').forEach((block) => {
    const name = block.id.slice('mp-field-'.length);
    const hint = block.querySelector('.info-text');
    if (hint) hint.id = `mp-hint-${name}`;
    const error = document.getElementById(`mp-error-${name}`);
    const message = error && error.textContent.trim() ? error : null;
    fieldTargets(block).forEach((el) => {
      const ids = [message && message.id, hint && hint.id].filter(Boolean).join(' ');
      if (ids) el.setAttribute('aria-describedby', ids); else el.removeAttribute('aria-describedby');
      if (message) el.setAttribute('aria-invalid', 'true'); else el.removeAttribute('aria-invalid');
    });
  });

  // Tabs: one tab stop (the selected tab), arrow keys, Home and End move between them.
  const tabStops = () => document.querySelectorAll('[role="tablist"]').forEach((list) => {
    list.querySelectorAll('[role="tab"]').forEach((tab) => {
      const selected = tab.getAttribute('aria-selected') === 'true';
      tab.setAttribute('tabindex', selected ? '0' : '-1');
    });
  });
  document.addEventListener('keydown', (event) => {
    const tab = event.target.closest && event.target.closest('[role="tab"]');
    if (!tab) return;
    const tabs = [...tab.closest('[role="tablist"]').querySelectorAll('[role="tab"]')];
    const at = tabs.indexOf(tab);
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    next.focus();
    next.click();
  });

  const enhance = () => { keypads(); radioGroups(); describe(); tabStops(); };
  enhance();
  let pending = false;
  new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; enhance(); });
  }).observe(document.body, { childList: true, subtree: true, attributes: true,
    attributeFilter: ['aria-selected', 'class'], characterData: true });

  // Moves the focus to what a step change or a result just drew, after a short delay that lets
  // Gradio draw it; unless the person moved the focus themselves meanwhile (into a field of the
  // new step, on to its Next button): their next key must land where they put it, not on a title
  // focused behind their back. Resolves with the element focused (null if left alone).
  const focusOnceDrawn = (pick, delay, block) => {
    const from = document.activeElement;
    return new Promise((resolve) => setTimeout(() => {
      const now = document.activeElement;
      const moved = now && now !== from && now !== document.body && now.offsetParent !== null;
      const el = moved ? null : pick();
      if (el) { el.focus(); el.scrollIntoView({ block }); }
      resolve(el || null);
    }, delay));
  };

  // After Next: the first field with an error gets the focus, otherwise the new step's title.
  window.mpFocusStep = () => focusOnceDrawn(() => {
    enhance();
    const invalid = [...document.querySelectorAll('[aria-invalid="true"]')]
      .find((el) => el.offsetParent !== null);
    const target = invalid && invalid.matches('fieldset')
      ? (invalid.querySelector('input:checked') || invalid.querySelector('input'))
      : invalid;
    return target || document.querySelector('#mp-step h2');
  }, 120, 'center');

  // What just appeared (the result's title), on a phone scrolled to the top of the viewport.
  window.mpFocusOn = (selector) => focusOnceDrawn(
    () => document.querySelector(selector), 80, 'start');
}
