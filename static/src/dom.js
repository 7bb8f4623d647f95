// Small DOM helpers shared by the widget and the pages. User data only ever enters the DOM as
// text nodes (Element.append of strings, textContent), never as markup.

/**
 * Create an element. Attributes with value null/undefined/false are left out; strings among
 * the children become text nodes.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  element.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/**
 * The page's token, taken from the URL fragment (`#token=…`, never the query string) and
 * wiped from the address bar and history so it is not shared by copying the link.
 */
export function takeToken() {
  const value = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(history.state, '', location.pathname + location.search);
  return value;
}
