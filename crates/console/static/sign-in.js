// Signs in with an access key without sending its secret: the request to /console/session is
// signed here with AWS Signature Version 4 (service "coffer"), using the Web Crypto API, and the
// server answers with a session cookie. The secret stays in this page's memory only.
'use strict';
(function () {
  const form = document.getElementById('sign-in');
  const errorBox = document.getElementById('sign-in-error');
  const enc = new TextEncoder();

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
  }
  async function sha256Hex(text) {
    return hex(await crypto.subtle.digest('SHA-256', enc.encode(text)));
  }
  async function hmac(key, text) {
    const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    return crypto.subtle.sign('HMAC', k, enc.encode(text));
  }
  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  async function signIn(accessKeyId, secret) {
    const now = new Date();
    const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const day = amzDate.slice(0, 8);
    const region = 'console';
    const service = 'coffer';
    const path = '/console/session';
    const bodyHash = await sha256Hex('');
    const signedHeaders = 'host;x-amz-content-sha256;x-amz-date';
    const canonical = [
      'POST', path, '',
      'host:' + location.host,
      'x-amz-content-sha256:' + bodyHash,
      'x-amz-date:' + amzDate,
      '', signedHeaders, bodyHash,
    ].join('\n');
    const scope = `${day}/${region}/${service}/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, await sha256Hex(canonical)].join('\n');
    let key = enc.encode('AWS4' + secret);
    for (const part of [day, region, service, 'aws4_request']) {
      key = await hmac(key, part);
    }
    const signature = hex(await hmac(key, toSign));
    return fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {
        'x-amz-date': amzDate,
        'x-amz-content-sha256': bodyHash,
        authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
      },
    });
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const ak = form.elements.access_key_id.value.trim();
    const sk = form.elements.access_key_secret.value;
    if (!ak || !sk) {
      showError('Enter the access key id and its secret.');
      return;
    }
    if (!window.crypto || !crypto.subtle) {
      showError('This browser cannot sign here: open the console over HTTPS (or on localhost).');
      return;
    }
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      const res = await signIn(ak, sk);
      const body = await res.json().catch(() => ({}));
      if (res.ok) {
        form.elements.access_key_secret.value = '';
        location.assign(body.Location || '/console/');
        return;
      }
      showError(body.Message || `Sign-in failed (HTTP ${res.status}).`);
    } catch (e) {
      showError('The server could not be reached: ' + e.message);
    }
    button.disabled = false;
    button.textContent = 'Sign in';
  });
})();
