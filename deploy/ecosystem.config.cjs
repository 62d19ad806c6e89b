// PM2 process file for the BuildNet daemon (`buildnet serve` in the foreground).
//
//   BUILDNET_BIN=/usr/local/bin/buildnet BUILDNET_WORKSPACE=/srv/app pm2 start deploy/ecosystem.config.cjs
//
// BUILDNET_BIN       the executable (default: `buildnet` from PATH)
// BUILDNET_WORKSPACE the folder holding buildnet.yaml, used as the working directory (default: here)
// BUILDNET_CONFIG    an explicit config file (default: found from the workspace)
// BUILDNET_TOKEN, BUILDNET_PORT, BUILDNET_HOST, BUILDNET_DB are passed on when set.
//
// `pm2 stop` sends SIGINT (PM2's default; buildnet treats it like SIGTERM): running builds are
// cancelled, their commands stopped, and the daemon exits 0. kill_timeout leaves it 30 s for that
// before PM2 resorts to SIGKILL. `pm2 reload` is a stop and start: for a configuration reload
// without a restart, send SIGHUP instead (`pm2 sendSignal SIGHUP buildnet`).

const cwd = process.env.BUILDNET_WORKSPACE || process.cwd();

const args = ['serve'];
if (process.env.BUILDNET_CONFIG) args.push('--config', process.env.BUILDNET_CONFIG);

const env = { RUST_LOG: process.env.RUST_LOG || 'info' };
for (const name of ['BUILDNET_TOKEN', 'BUILDNET_PORT', 'BUILDNET_HOST', 'BUILDNET_DB']) {
  if (process.env[name]) env[name] = process.env[name];
}

module.exports = {
  apps: [
    {
      name: 'buildnet',
      script: process.env.BUILDNET_BIN || 'buildnet',
      args,
      interpreter: 'none', // a native executable, not a Node script
      exec_mode: 'fork', // one daemon per workspace: a second one is refused anyway
      instances: 1,
      cwd,
      env,
      autorestart: true,
      exp_backoff_restart_delay: 200, // a crash loop backs off instead of spinning
      kill_timeout: 30000,
      // Signal only the daemon: it stops its build commands itself (whole process groups), so a
      // stop cancels builds cleanly instead of PM2 killing the commands under it.
      treekill: false,
    },
  ],
};
