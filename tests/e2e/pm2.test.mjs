// `buildnet serve` as a PM2 service, started from deploy/ecosystem.config.cjs.
//
//   BUILDNET_BIN=target/debug/buildnet node --test tests/e2e/

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';

import { buildnetBin, cleanEnv, freePort, makeWorkspace, removeDir, repoRoot, request, waitFor } from './helpers.mjs';

const run = promisify(execFile);
const PM2 = path.join(repoRoot, 'tests/e2e/node_modules/.bin/pm2');
const ECOSYSTEM = path.join(repoRoot, 'deploy/ecosystem.config.cjs');

describe('pm2', () => {
  let pm2Home;
  let workspace;
  let port;
  let env;
  let pid;

  /** Runs the pm2 CLI against this test's own PM2_HOME. */
  const pm2 = async (...args) => {
    try {
      const { stdout } = await run(PM2, args, { env, cwd: workspace, timeout: 60_000 });
      return stdout;
    } catch (err) {
      throw new Error(`pm2 ${args.join(' ')} failed: ${err.message}\n${err.stdout ?? ''}${err.stderr ?? ''}`);
    }
  };

  const health = async () => {
    try {
      const res = await request(`http://127.0.0.1:${port}`, '/health');
      return res.status === 200 && res.body?.status === 'ok';
    } catch {
      return false; // refused: nothing listens
    }
  };

  /** The app's logs, for failure messages. */
  const logs = () => {
    const dir = path.join(pm2Home, 'logs');
    if (!fs.existsSync(dir)) return '(no pm2 logs)';
    return fs
      .readdirSync(dir)
      .map((f) => `--- ${f}\n${fs.readFileSync(path.join(dir, f), 'utf8').slice(-4000)}`)
      .join('\n');
  };

  before(async () => {
    assert.ok(fs.existsSync(PM2), `pm2 not installed: run npm ci in tests/e2e (${PM2})`);
    pm2Home = fs.mkdtempSync(path.join(os.tmpdir(), 'buildnet-pm2-home-'));
    port = await freePort();
    workspace = makeWorkspace({
      'buildnet.yaml': `server:\n  port: ${port}\ntargets:\n  hello:\n    command: echo hello\n`,
    });
    env = cleanEnv({
      PM2_HOME: pm2Home,
      BUILDNET_BIN: buildnetBin(),
      BUILDNET_WORKSPACE: workspace,
      RUST_LOG: 'info',
    });
  });

  after(async () => {
    if (env) await run(PM2, ['kill'], { env, timeout: 60_000 }).catch(() => {});
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL'); // only if pm2 left it behind
      } catch {
        // Already gone, as it should be.
      }
    }
    removeDir(workspace);
    removeDir(pm2Home);
  });

  test('starts the daemon from the ecosystem file', async () => {
    await pm2('start', ECOSYSTEM);
    await waitFor(health, { timeoutMs: 20_000, what: `/health on port ${port}` }).catch((err) => {
      throw new Error(`${err.message}\n${logs()}`);
    });

    const list = JSON.parse(await pm2('jlist'));
    assert.equal(list.length, 1);
    const [app] = list;
    assert.equal(app.name, 'buildnet');
    assert.equal(app.pm2_env.status, 'online');
    assert.equal(app.pm2_env.exec_mode, 'fork_mode');
    assert.equal(app.pm2_env.pm_cwd, workspace);
    pid = app.pid;
    assert.ok(pid > 0);

    // The process pm2 watches is the buildnet executable itself, not a shell or node around it.
    assert.equal(fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, ''), fs.realpathSync(buildnetBin()));
    const status = await request(`http://127.0.0.1:${port}`, '/api/v1/status');
    assert.equal(status.status, 200);
    assert.equal(status.body.pid, pid);
    assert.equal(fs.realpathSync(status.body.workspace), fs.realpathSync(workspace));
  });

  test('stops it cleanly', async () => {
    await pm2('stop', 'buildnet');
    assert.equal(await health(), false, 'nothing answers after pm2 stop');
    await waitFor(() => !fs.existsSync(`/proc/${pid}`), { timeoutMs: 5_000, what: `pid ${pid} to exit` });
    const [app] = JSON.parse(await pm2('jlist'));
    assert.equal(app.pm2_env.status, 'stopped');
    // It stopped on the signal rather than being killed after the timeout.
    const err = fs.readFileSync(app.pm2_env.pm_err_log_path, 'utf8');
    assert.match(err, /SIG(INT|TERM): stopping/, logs());

    await pm2('delete', 'all');
    assert.deepEqual(JSON.parse(await pm2('jlist')), []);
    await pm2('kill');
  });
});
