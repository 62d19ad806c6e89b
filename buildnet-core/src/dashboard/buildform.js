// "Start a build" panel: the target checkboxes, their filter, and starting a build.

import { $, el, setText, show } from './dom.js';
import { plural } from './format.js';
import { ApiError, api } from './api.js';
import { S, buildSummary } from './state.js';
import { schedule } from './refresh.js';
import { setFollow, selectBuild } from './builds.js';

export function renderTargets() {
  const box = $('targets');
  const ticked = new Set(
    [...box.querySelectorAll('input[type=checkbox]:checked')].map((input) => input.value),
  );
  const filter = $('target-filter').value.trim().toLowerCase();
  box.replaceChildren(
    ...S.graph.order.map((name) => {
      const input = el('input', {
        type: 'checkbox',
        value: name,
        'data-testid': 'target-checkbox',
        'aria-label': name,
      });
      input.checked = ticked.has(name);
      const label = el('label', { class: 'check', title: name }, input, el('span', {}, name));
      label.hidden = filter !== '' && !name.toLowerCase().includes(filter);
      return label;
    }),
  );
  if (!S.graph.order.length) box.append(el('span', { class: 'muted small-text' }, 'No targets.'));
  updateBuildHint();
}

function checkedTargets() {
  return [...$('targets').querySelectorAll('input[type=checkbox]:checked')].map((i) => i.value);
}

export function updateBuildHint() {
  const n = checkedTargets().length;
  setText(
    $('build-hint'),
    n === 0
      ? 'No target ticked builds every target.'
      : `${plural(n, 'target')} and their dependencies.`,
  );
}

export async function startBuild(event) {
  event.preventDefault();
  const button = $('build-button');
  const error = $('build-error');
  show(error, false);
  button.disabled = true;
  try {
    const data = await api('/api/v1/build', {
      method: 'POST',
      body: { targets: checkedTargets(), force: $('force').checked },
    });
    if (data.build_id) {
      setFollow(true);
      if (!buildSummary(data.build_id)) {
        S.builds.unshift({
          id: data.build_id,
          status: 'queued',
          requested: checkedTargets(),
          started_at: Date.now(),
          targets: [],
        });
      }
      await selectBuild(data.build_id, { byUser: false });
    }
    schedule('builds', 50);
    schedule('status', 50);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) {
      setText(error, err.message);
      show(error, true);
    }
  } finally {
    button.disabled = false;
  }
}

export function setAllTargets(on) {
  for (const label of $('targets').children) {
    const input = label.querySelector && label.querySelector('input');
    if (input && !label.hidden) input.checked = on;
  }
  updateBuildHint();
}
