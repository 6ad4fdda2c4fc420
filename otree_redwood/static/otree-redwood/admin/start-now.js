// "Start now" on the live monitor (templates/otree_redwood/monitor.html):
// a button on each group whose period has not started, which starts it
// without the members who are not connected (views.start_now_api, engine/absent.py).
// It watches the cards that monitor.js renders (their data-state) and adds
// or removes its button; it does not touch anything else of the page.
const config = JSON.parse(document.getElementById('redwood-page-config').textContent);
const root = document.getElementById('rw-groups');
const tokenInput = document.querySelector('#rw-start-now-csrf input[name="csrfmiddlewaretoken"]');

async function startNow(card, button) {
  const who = `${card.dataset.app} group pk ${card.dataset.group}`;
  if (!window.confirm(`Start the period of ${who} now, without the members who are not connected?`)) return;
  button.disabled = true;
  const body = new URLSearchParams({app: card.dataset.app, group: card.dataset.group});
  try {
    const res = await fetch(`/redwood/monitor/session/${encodeURIComponent(config.session)}/start/`, {
      method: 'POST', body, credentials: 'same-origin',
      headers: {'X-CSRFToken': tokenInput ? tokenInput.value : ''},
    });
    const data = await res.json().catch(() => ({}));
    button.textContent = data.scheduled ? 'Starting…' : (data.reason || data.error || `error ${res.status}`);
  } catch (e) {
    button.textContent = 'failed: ' + e;
    button.disabled = false;
  }
}

function update(card) {
  const header = card.querySelector('.card-header');
  if (!header) return;
  let button = header.querySelector('.rw-start-now');
  const waiting = !card.dataset.state;  // no period_start yet
  if (waiting && !button) {
    button = document.createElement('button');
    button.type = 'button';
    button.className = 'btn btn-sm btn-outline-danger float-right rw-start-now';
    button.textContent = 'Start now';
    button.title = 'Start the period without the members who are not connected';
    button.addEventListener('click', () => startNow(card, button));
    header.append(button);
  } else if (!waiting && button) {
    button.remove();
  }
}

function scan() { root.querySelectorAll('section.rw-group').forEach(update); }

if (root) {
  new MutationObserver(scan).observe(root, {subtree: true, childList: true, attributes: true,
                                            attributeFilter: ['data-state']});
  scan();
}
