// The page /embed/chat?room=R#token=…: the chat widget alone, for an iframe.
//
// The token travels in the URL fragment, which browsers never send to a server; it is read once
// and wiped from the address bar. Before the session ends with its token, the page asks its
// parent for a fresh one (docs/protocol.md "Sessions and renewal"): it posts
// `{type: 'twinspace-live:token-expiring'}` to the parent at the allowed origins only, and takes
// `{type: 'twinspace-live:token', token}` only from the parent at those origins. A parent may
// also hand over a fresh token by changing the iframe's fragment (#token=…).
//
// The host page knows (docs/protocol.md "The host page knows"): the widget's `unread` and
// `mention` events go to the parent, at the allowed origins only, as
// `{type: 'twinspace-live:unread', count}` and `{type: 'twinspace-live:mention', id, room, from,
// text}`.

import './twinspace-chat.js';
import { takeToken } from './dom.js';
import { LocalEvents } from './protocol.js';
import { HostMessages, acceptTokens, askHost, tellHost, tokenHost } from './session.js';


const query = new URLSearchParams(location.search);
const chat = document.createElement('twinspace-chat');
for (const name of ['room', 'lang']) {
  const value = query.get(name);
  if (value) chat.setAttribute(name, value);
}
chat.token = takeToken();
chat.addEventListener('localized', (event) => {
  const { lang, dir, title } = event.detail;
  document.documentElement.lang = lang;
  document.documentElement.dir = dir;
  document.title = title;
  document.getElementById('heading').textContent = title;
});
const host = tokenHost();
chat.addEventListener(LocalEvents.TOKEN_EXPIRING, (event) => {
  if (askHost(host)) event.preventDefault(); // the widget warns if no token comes in time
});
acceptTokens(host, (token) => { chat.renew(token).catch(() => {}); });
chat.addEventListener('unread', (event) => {
  tellHost(host, { type: HostMessages.UNREAD, count: event.detail.count });
});
chat.addEventListener('mention', (event) => {
  const { id, room, from, text } = event.detail;
  tellHost(host, { type: HostMessages.MENTION, id, room, from, text });
});
window.addEventListener('hashchange', () => {
  const token = takeToken();
  if (token) chat.token = token;
});
document.getElementById('main').append(chat);
