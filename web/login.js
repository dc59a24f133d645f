// The login form: resolves with the user once the server accepts a name and password.
import {login} from './api.js';

export function showLogin() {
  const form = document.getElementById('login-form');
  const error = document.getElementById('login-error');
  document.getElementById('login').hidden = false;
  form.elements.name.focus();
  return new Promise((resolve) => {
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      form.elements.submit.disabled = true;
      try {
        const {user} = await login(form.elements.name.value.trim(), form.elements.password.value);
        form.reset();
        document.getElementById('login').hidden = true;
        resolve(user);
      } catch (err) {
        error.textContent = err.message;
        if (err.field && form.elements[err.field]) form.elements[err.field].focus();
      } finally {
        form.elements.submit.disabled = false;
      }
    });
  });
}
