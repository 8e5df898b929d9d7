-- Prosody configuration for Hestia's benchmark (bench/run.sh), derived from Debian's packaged
-- /etc/prosody/prosody.cfg.lua (prosody 0.12.3). run.sh replaces @DIR@ with a fresh temporary
-- directory before every start. Differences from the packaged file, and why:
--   * mod_limits removed (the packaged config throttles c2s to 10 KiB/s);
--   * plaintext allowed (c2s_require_encryption = false, allow_unencrypted_plain_auth) — the
--     benchmark runs on loopback; TLS is still offered (STARTTLS) for the TLS runs;
--   * in-band registration open (allow_registration, registration_invite_only = false, no
--     invites modules); loopback is on mod_register_limits' allowlist;
--   * c2s only: no s2s, HTTP, BOSH or admin listeners; admin_adhoc/admin_shell/posix/dialback
--     removed (not needed in the foreground, nothing to do with c2s load);
--   * data, logs and pid file in the temporary directory.
-- Everything else (roster, carbons, smacks, PEP, vCard, CSI, blocklist, ping …) is as packaged.

admins = { }
plugin_paths = { }

modules_enabled = {
	"disco";
	"roster";
	"saslauth";
	"tls";
	"blocklist";
	"bookmarks";
	"carbons";
	"pep";
	"private";
	"smacks";
	"vcard4";
	"vcard_legacy";
	"csi_simple";
	"ping";
	"register";
	"time";
	"uptime";
	"version";
}
modules_disabled = {
	"s2s";
}

network_backend = "epoll"
c2s_ports = { 5222 }
c2s_direct_tls_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_secure_auth = false

allow_registration = true
registration_invite_only = false

authentication = "internal_hashed"
storage = "internal"
data_path = "@DIR@/data"
pidfile = "@DIR@/prosody.pid"

log = {
	warn = "@DIR@/prosody.log";
}

certificates = "@DIR@"
ssl = {
	certificate = "@DIR@/server.pem";
	key = "@DIR@/server-key.pem";
}

VirtualHost "localhost"
