// Styles of <twinspace-chat>, kept inside its shadow root. Pages may theme it through the
// --ts-* custom properties on the element. A constructed stylesheet is used where possible:
// unlike a <style> element it is not blocked by a strict `style-src` Content Security Policy.

export const CHAT_CSS = `
:host {
  --ts-bg: #ffffff;
  --ts-fg: #1b1f24;
  --ts-muted: #4f5661;
  --ts-border: #b9c0c9;
  --ts-hover: #eef1f4;
  --ts-accent: #0b57d0;
  --ts-accent-hover: #0842a0;
  --ts-accent-fg: #ffffff;
  --ts-own: #e8f0fe;
  --ts-focus: #0b57d0;
  --ts-ok: #146c2e;
  --ts-warn-bg: #fff4e0;
  --ts-warn-fg: #6f3b00;
  --ts-err-bg: #fdecea;
  --ts-err-fg: #9c0d0d;
  --ts-private-bg: #f3ecfb;
  --ts-private-fg: #5b2a86;
  display: block;
  box-sizing: border-box;
  height: 32rem;
  min-height: 14rem;
  overflow: hidden;
  color: var(--ts-fg);
  background: var(--ts-bg);
  border: 1px solid var(--ts-border);
  border-radius: 8px;
  font: 0.95rem/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif;
  container-type: inline-size;
}
:host([hidden]) { display: none; }
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.vh {
  position: absolute !important; width: 1px; height: 1px; overflow: hidden;
  clip-path: inset(50%); white-space: nowrap;
}
:focus-visible { outline: 3px solid var(--ts-focus); outline-offset: 2px; }
button {
  font: inherit; color: inherit; background: var(--ts-bg); cursor: pointer;
  border: 1px solid var(--ts-border); border-radius: 6px; padding: 0.25rem 0.7rem; min-height: 2rem;
}
button:hover { background: var(--ts-hover); }
button:disabled { cursor: not-allowed; opacity: 0.6; }

.root { display: flex; flex-direction: column; height: 100%; }
.bar {
  display: flex; flex-wrap: wrap; align-items: center; gap: 0.25rem 0.75rem;
  padding: 0.5rem 0.75rem; border-block-end: 1px solid var(--ts-border);
}
.title { margin: 0; flex: 1 1 8rem; min-width: 0; font-size: 1rem; font-weight: 600; overflow-wrap: anywhere; }
.status, .locked { margin: 0; padding: 0.05rem 0.55rem; border-radius: 999px; font-size: 0.85rem; }
:host([data-state="online"]) .status { color: var(--ts-ok); }
:host([data-state="connecting"]) .status,
:host([data-state="reconnecting"]) .status,
.locked { background: var(--ts-warn-bg); color: var(--ts-warn-fg); }
:host([data-state="offline"]) .status { background: var(--ts-err-bg); color: var(--ts-err-fg); }
.hand-toggle[aria-pressed="true"] {
  background: var(--ts-warn-bg); color: var(--ts-warn-fg); border-color: currentColor; font-weight: 600;
}

.main { flex: 1 1 auto; min-height: 0; display: flex; }
.conversation { position: relative; flex: 1 1 auto; min-width: 0; min-height: 0; display: flex; flex-direction: column; }
.log { flex: 1 1 auto; min-height: 0; overflow-y: auto; overflow-anchor: none; padding: 0.5rem 0.75rem; }
.log:focus-visible { outline-offset: -3px; }
.older { display: flex; justify-content: center; }
.older-note, .empty { margin: 0 0 0.5rem; text-align: center; font-size: 0.85rem; color: var(--ts-muted); }
.load-older { margin-block-end: 0.5rem; font-size: 0.85rem; }
.messages { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 0.4rem; }
.msg { padding: 0.3rem 0.6rem; border-radius: 8px; }
.msg.own { background: var(--ts-own); }
.msg.private { background: var(--ts-private-bg); border-inline-start: 4px solid var(--ts-private-fg); }
.badge.private { color: var(--ts-private-fg); font-weight: 600; }
.meta {
  margin: 0; display: flex; flex-wrap: wrap; align-items: baseline; gap: 0.1rem 0.5rem;
  font-size: 0.85rem; color: var(--ts-muted);
}
.meta .name { font-weight: 600; color: var(--ts-fg); overflow-wrap: anywhere; }
.badge { padding: 0 0.4rem; border: 1px solid currentColor; border-radius: 999px; font-size: 0.75rem; }
.text a { color: var(--ts-accent); text-decoration: underline; overflow-wrap: anywhere; }
.reactions { display: flex; flex-wrap: wrap; align-items: center; gap: 0.25rem; margin-top: 0.15rem; }
.reactions button { min-height: 1.6rem; padding: 0 0.45rem; font-size: 0.85rem; border-radius: 999px; }
.reactions .reaction[aria-pressed="true"], .reactions .pick[aria-pressed="true"] {
  background: var(--ts-own); border-color: var(--ts-accent); }
.reactions .picker { display: inline-flex; flex-wrap: wrap; gap: 0.15rem; }
.reactions .who { flex-basis: 100%; margin: 0.2rem 0 0; padding-inline-start: 1rem; font-size: 0.85rem; color: var(--ts-muted); }
.delete { margin-inline-start: auto; min-height: 1.6rem; padding: 0 0.5rem; font-size: 0.8rem; }
.text { margin: 0.1rem 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.jump {
  position: absolute; inset-block-end: 0.75rem; inset-inline-end: 1rem;
  background: var(--ts-accent); color: var(--ts-accent-fg); border-color: var(--ts-accent);
  box-shadow: 0 2px 6px rgb(0 0 0 / 0.25);
}
.jump:hover { background: var(--ts-accent-hover); }

.people {
  flex: 0 0 13rem; overflow-y: auto; padding: 0.5rem 0.75rem;
  border-inline-start: 1px solid var(--ts-border);
}
.people summary { cursor: pointer; font-weight: 600; }
.people-count { font-weight: 400; color: var(--ts-muted); }
.members { list-style: none; margin: 0.5rem 0 0; padding: 0; display: grid; gap: 0.3rem; }
.member { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 0.4rem; overflow-wrap: anywhere; }
.member .role, .you { font-size: 0.8rem; color: var(--ts-muted); }
.member .hand { color: var(--ts-warn-fg); }

.typing { margin: 0; min-height: 1.45em; padding: 0 0.75rem; font-size: 0.85rem; font-style: italic; color: var(--ts-muted); }
.notice {
  display: flex; align-items: center; gap: 0.5rem; margin: 0 0.75rem 0.5rem; padding: 0.35rem 0.6rem;
  border-radius: 6px; background: var(--ts-err-bg); color: var(--ts-err-fg);
}
.notice-text { margin: 0; flex: 1 1 auto; }
.composer {
  display: grid; grid-template-columns: 1fr auto; gap: 0.25rem 0.5rem;
  padding: 0.5rem 0.75rem; border-block-start: 1px solid var(--ts-border);
}
textarea {
  font: inherit; color: inherit; background: var(--ts-bg); resize: none;
  min-height: 2.6rem; max-height: 8rem; padding: 0.4rem 0.5rem;
  border: 1px solid var(--ts-muted); border-radius: 6px;
}
textarea::placeholder { color: var(--ts-muted); opacity: 1; }
.send { align-self: stretch; background: var(--ts-accent); color: var(--ts-accent-fg); border-color: var(--ts-accent); font-weight: 600; }
.send:hover { background: var(--ts-accent-hover); }
.recipient { grid-column: 1 / -1; display: flex; align-items: center; gap: 0.5rem; font-size: 0.85rem; }
.recipient label { font-weight: 600; }
.to {
  font: inherit; color: inherit; background: var(--ts-bg); min-height: 2rem; max-width: 100%;
  padding: 0.15rem 0.4rem; border: 1px solid var(--ts-muted); border-radius: 6px;
}
.hint { grid-column: 1 / -1; margin: 0; font-size: 0.8rem; color: var(--ts-muted); }
.pm-rule { grid-column: 1 / -1; margin: 0; font-size: 0.8rem; color: var(--ts-private-fg); }
.readonly {
  margin: 0; padding: 0.5rem 0.75rem; font-size: 0.9rem; color: var(--ts-muted);
  border-block-start: 1px solid var(--ts-border);
}
.poll-note { margin: 0.2rem 0; font-size: 0.8rem; color: var(--ts-muted); }
.poll input[type="text"] {
  font: inherit; color: inherit; background: var(--ts-bg); min-height: 2rem; max-width: 100%;
  padding: 0.15rem 0.4rem; border: 1px solid var(--ts-muted); border-radius: 6px;
}
.poll-option[data-correct] { font-weight: 600; }
.correct-mark, .poll-verdict.right { color: var(--ts-ok); }
.poll-verdict { margin: 0.2rem 0; font-weight: 600; }
.poll-verdict.wrong { color: var(--ts-err-fg); }
.poll-answers, .poll-cloud { margin: 0.2rem 0; padding-inline-start: 1.2rem; }
.poll-cloud { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.2rem 0.8rem; align-items: baseline; }
.poll-answers li, .poll-cloud li { overflow-wrap: anywhere; }

@container (max-width: 34rem) {
  .main { flex-direction: column; }
  .people {
    flex: 0 0 auto; max-height: 40%; order: -1;
    border-inline-start: 0; border-block-end: 1px solid var(--ts-border);
  }
  .hint { display: none; }
}
`;

let sheet = null;

/**
 * Put the styles into a shadow root. Returns the nodes that must stay in the root (a <style>
 * element where constructed stylesheets are not supported), so it can be re-rendered.
 * @param {ShadowRoot} root
 * @returns {Node[]}
 */
export function adoptStyles(root) {
  if ('adoptedStyleSheets' in root && 'replaceSync' in CSSStyleSheet.prototype) {
    if (!sheet) {
      sheet = new CSSStyleSheet();
      sheet.replaceSync(CHAT_CSS);
    }
    root.adoptedStyleSheets = [sheet];
    return [];
  }
  const style = document.createElement('style');
  style.textContent = CHAT_CSS;
  return [style];
}
