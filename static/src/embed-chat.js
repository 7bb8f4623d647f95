// The page /embed/chat?room=R#token=…: the chat widget alone, for an iframe.
//
// The token travels in the URL fragment, which browsers never send to a server; it is read once
// and wiped from the address bar. A parent page may hand over a fresh token later by changing the
// iframe's fragment (#token=…), which refreshes the session without a reload.

import './twinspace-chat.js';
import { takeToken } from './dom.js';


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
window.addEventListener('hashchange', () => {
  const token = takeToken();
  if (token) chat.token = token;
});
document.getElementById('main').append(chat);
