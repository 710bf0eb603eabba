/**
 * mail_params - the parameter registry: every main.cf parameter the system
 * knows, with its type, built-in default (Postfix 3.7 `postconf -d`), range
 * and the programs that read it (Postfix global/mail_params.h and the
 * per-daemon CONFIG_*_TABLEs).
 *
 * One source of truth: daemons read typed values through MailConfig,
 * `postconf -d` prints from here, and unknown names in main.cf are those that
 * are not listed here.
 *
 * Deliberate differences from a stock Postfix 3.7 build (docs/configuration.md):
 * default_database_type is lmdb (so alias_maps/alias_database say lmdb:), as
 * a Postfix built with CCARGS=-DDEF_DB_TYPE=\"lmdb\" would print; this
 * build has no NIS client, so alias_maps lacks ", nis:mail.aliases" exactly
 * as a Postfix built without HAS_NIS; directory
 * defaults come from install_defaults.ts (upstream values unless the
 * installation chose others). myhostname, mydomain and mynetworks are computed
 * at run time from this machine, as Postfix does.
 */

import { hostname, networkInterfaces } from 'node:os';
import type { ParamDef, ParamEval, ParamExplicit, ParamType } from './param_types.js';
import { installDefaults as dirs } from './install_defaults.js';

export type { ParamDef, ParamType, ParamEval, ParamExplicit } from './param_types.js';

/** One row: name, type, default as `postconf -d` prints it, users, then min and max when Postfix has limits. */
type Row = [string, ParamType, string, string, number?, number?];

/*
 * Generated from a Postfix 3.7.11 `postconf -d` listing and its CONFIG tables; sorted by name.
 * Machine-dependent defaults (myhostname, mydomain, mynetworks, process_*) are computed at run time.
 */
const ROWS: Row[] = [
  ["2bounce_notice_recipient", "str", "postmaster", "bounce", 1, 0],
  ["access_map_defer_code", "int", "450", "smtpd"],
  ["access_map_reject_code", "int", "554", "smtpd"],
  ["address_verify_cache_cleanup_interval", "time", "12h", "verify"],
  ["address_verify_default_transport", "str", "$default_transport", "trivial-rewrite", 1, 0],
  ["address_verify_local_transport", "str", "$local_transport", "trivial-rewrite", 1, 0],
  ["address_verify_map", "str", "btree:$data_directory/verify_cache", "proxymap verify"],
  ["address_verify_negative_cache", "bool", "yes", "global"],
  ["address_verify_negative_expire_time", "time", "3d", "verify", 1, 0],
  ["address_verify_negative_refresh_time", "time", "3h", "verify", 1, 0],
  ["address_verify_pending_request_limit", "int", "5000", "oqmgr qmgr", 1, 0],
  ["address_verify_poll_count", "nint", "${stress?{1}:{3}}", "smtpd", 1, 0],
  ["address_verify_poll_delay", "time", "3s", "smtpd", 1, 0],
  ["address_verify_positive_expire_time", "time", "31d", "verify", 1, 0],
  ["address_verify_positive_refresh_time", "time", "7d", "verify", 1, 0],
  ["address_verify_relay_transport", "str", "$relay_transport", "trivial-rewrite", 1, 0],
  ["address_verify_relayhost", "str", "$relayhost", "trivial-rewrite"],
  ["address_verify_sender", "str", "$double_bounce_sender", "smtpd verify"],
  ["address_verify_sender_dependent_default_transport_maps", "str", "$sender_dependent_default_transport_maps", "trivial-rewrite"],
  ["address_verify_sender_dependent_relayhost_maps", "str", "$sender_dependent_relayhost_maps", "trivial-rewrite"],
  ["address_verify_sender_ttl", "time", "0s", "smtpd verify"],
  ["address_verify_service_name", "str", "verify", "global", 1, 0],
  ["address_verify_transport_maps", "str", "$transport_maps", "trivial-rewrite"],
  ["address_verify_virtual_transport", "str", "$virtual_transport", "trivial-rewrite", 1, 0],
  ["alias_database", "str", "hash:/etc/aliases", "global"],
  ["alias_maps", "str", "hash:/etc/aliases, nis:mail.aliases", "local proxymap smtpd"],
  ["allow_mail_to_commands", "str", "alias, forward", "local"],
  ["allow_mail_to_files", "str", "alias, forward", "local"],
  ["allow_min_user", "bool", "no", "trivial-rewrite"],
  ["allow_percent_hack", "bool", "yes", "trivial-rewrite"],
  ["allow_untrusted_routing", "bool", "no", "smtpd"],
  ["alternate_config_directories", "str", "", "global"],
  ["always_add_missing_headers", "bool", "no", "cleanup"],
  ["always_bcc", "str", "", "cleanup"],
  ["anvil_rate_time_unit", "time", "60s", "anvil", 1, 0],
  ["anvil_status_update_time", "time", "600s", "anvil", 1, 0],
  ["append_at_myorigin", "bool", "yes", "trivial-rewrite"],
  ["append_dot_mydomain", "nbool", "${{$compatibility_level} <level {1} ? {yes} : {no}}", "trivial-rewrite"],
  ["application_event_drain_time", "time", "100s", "global", 1, 0],
  ["authorized_flush_users", "str", "static:anyone", "postqueue"],
  ["authorized_mailq_users", "str", "static:anyone", "postqueue"],
  ["authorized_submit_users", "str", "static:anyone", "postdrop sendmail"],
  ["backwards_bounce_logfile_compatibility", "bool", "yes", "global"],
  ["berkeley_db_create_buffer_size", "int", "16777216", "global", 1, 0],
  ["berkeley_db_read_buffer_size", "int", "131072", "global", 1, 0],
  ["best_mx_transport", "str", "", "smtp"],
  ["biff", "bool", "yes", "local"],
  ["body_checks", "str", "", "cleanup"],
  ["body_checks_size_limit", "int", "51200", "cleanup"],
  ["bounce_notice_recipient", "str", "postmaster", "bounce smtpd", 1, 0],
  ["bounce_queue_lifetime", "time", "5d", "oqmgr qmgr", 0, 8640000],
  ["bounce_service_name", "str", "bounce", "global", 1, 0],
  ["bounce_size_limit", "int", "50000", "bounce", 1, 0],
  ["bounce_template_file", "str", "", "bounce"],
  ["broken_sasl_auth_clients", "bool", "no", "smtpd"],
  ["canonical_classes", "str", "envelope_sender, envelope_recipient, header_sender, header_recipient", "cleanup", 1, 0],
  ["canonical_maps", "str", "", "cleanup proxymap smtpd"],
  ["cleanup_replace_stray_cr_lf", "bool", "yes", "cleanup"],
  ["cleanup_service_name", "str", "cleanup", "global", 1, 0],
  ["command_directory", "str", "/usr/sbin", "global", 1, 0],
  ["command_execution_directory", "raw", "", "local"],
  ["command_expansion_filter", "str", "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "local", 1, 0],
  ["command_time_limit", "time", "1000s", "local pipe spawn", 1, 0],
  ["compatibility_level", "str", "0", "global"],
  ["config_directory", "str", "/etc/postfix", "global"],
  ["confirm_delay_cleared", "bool", "no", "oqmgr qmgr"],
  ["connection_cache_protocol_timeout", "time", "5s", "smtp", 1, 0],
  ["connection_cache_service_name", "str", "scache", "smtp", 1, 0],
  ["connection_cache_status_update_time", "time", "600s", "scache", 1, 0],
  ["connection_cache_ttl_limit", "time", "2s", "scache", 1, 0],
  ["content_filter", "str", "", "pickup qmqpd smtpd"],
  ["cyrus_sasl_config_path", "str", "", "smtp smtpd"],
  ["daemon_directory", "str", "/usr/lib/postfix/sbin", "global", 1, 0],
  ["daemon_table_open_error_is_fatal", "bool", "no", "global"],
  ["daemon_timeout", "time", "18000s", "global", 1, 0],
  ["data_directory", "str", "/var/lib/postfix", "global", 1, 0],
  ["debug_peer_level", "int", "2", "global", 1, 0],
  ["debug_peer_list", "str", "", "global"],
  ["debugger_command", "str", "", "global"],
  ["default_database_type", "str", "hash", "global", 1, 0],
  ["default_delivery_slot_cost", "int", "5", "qmgr"],
  ["default_delivery_slot_discount", "int", "50", "qmgr", 0, 100],
  ["default_delivery_slot_loan", "int", "3", "qmgr"],
  ["default_delivery_status_filter", "str", "", "global"],
  ["default_destination_concurrency_failed_cohort_limit", "int", "1", "oqmgr qmgr"],
  ["default_destination_concurrency_limit", "int", "20", "oqmgr qmgr"],
  ["default_destination_concurrency_negative_feedback", "str", "1", "oqmgr qmgr", 1, 0],
  ["default_destination_concurrency_positive_feedback", "str", "1", "oqmgr qmgr", 1, 0],
  ["default_destination_rate_delay", "time", "0s", "oqmgr qmgr"],
  ["default_destination_recipient_limit", "int", "50", "oqmgr qmgr"],
  ["default_extra_recipient_limit", "int", "1000", "qmgr"],
  ["default_filter_nexthop", "str", "", "oqmgr qmgr"],
  ["default_minimum_delivery_slots", "int", "3", "qmgr"],
  ["default_privs", "str", "nobody", "global", 1, 0],
  ["default_process_limit", "int", "100", "global", 1, 0],
  ["default_rbl_reply", "raw", "$rbl_code Service unavailable; $rbl_class [$rbl_what] blocked using $rbl_domain${rbl_reason?; $rbl_reason}", "smtpd", 1, 0],
  ["default_recipient_limit", "int", "20000", "qmgr"],
  ["default_recipient_refill_delay", "time", "5s", "qmgr", 1, 0],
  ["default_recipient_refill_limit", "int", "100", "qmgr", 1, 0],
  ["default_transport", "str", "smtp", "trivial-rewrite", 1, 0],
  ["default_transport_rate_delay", "time", "0s", "oqmgr qmgr"],
  ["default_verp_delimiters", "str", "+=", "global", 2, 2],
  ["defer_code", "int", "450", "smtpd"],
  ["defer_service_name", "str", "defer", "global", 1, 0],
  ["defer_transports", "str", "", "oqmgr qmgr"],
  ["delay_logging_resolution_limit", "int", "2", "global", 0, 6],
  ["delay_notice_recipient", "str", "postmaster", "bounce", 1, 0],
  ["delay_warning_time", "time", "0h", "bounce cleanup"],
  ["deliver_lock_attempts", "int", "20", "global", 1, 0],
  ["deliver_lock_delay", "time", "1s", "global", 1, 0],
  ["destination_concurrency_feedback_debug", "bool", "no", "oqmgr qmgr"],
  ["detect_8bit_encoding_header", "bool", "yes", "cleanup"],
  ["disable_dns_lookups", "bool", "no", "global"],
  ["disable_mime_input_processing", "bool", "no", "global"],
  ["disable_mime_output_conversion", "bool", "no", "global"],
  ["disable_verp_bounces", "bool", "no", "cleanup oqmgr qmgr"],
  ["disable_vrfy_command", "bool", "no", "postscreen smtpd"],
  ["dns_ncache_ttl_fix_enable", "bool", "no", "global"],
  ["dnsblog_reply_delay", "time", "0s", "dnsblog"],
  ["dnsblog_service_name", "str", "dnsblog", "postscreen", 1, 0],
  ["dnssec_probe", "str", "ns:.", "global"],
  ["dont_remove", "int", "0", "global"],
  ["double_bounce_sender", "str", "double-bounce", "global", 1, 0],
  ["duplicate_filter_limit", "int", "1000", "cleanup local showq"],
  ["empty_address_default_transport_maps_lookup_key", "str", "<>", "trivial-rewrite", 1, 0],
  ["empty_address_local_login_sender_maps_lookup_key", "str", "<>", "postdrop"],
  ["empty_address_recipient", "str", "MAILER-DAEMON", "cleanup showq trivial-rewrite", 1, 0],
  ["empty_address_relayhost_maps_lookup_key", "str", "<>", "trivial-rewrite", 1, 0],
  ["enable_idna2003_compatibility", "nbool", "no", "global"],
  ["enable_long_queue_ids", "bool", "no", "global"],
  ["enable_original_recipient", "bool", "yes", "global"],
  ["enable_threaded_bounces", "nbool", "no", "bounce"],
  ["error_notice_recipient", "str", "postmaster", "smtp smtpd", 1, 0],
  ["error_service_name", "str", "error", "global", 1, 0],
  ["execution_directory_expansion_filter", "str", "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "local", 1, 0],
  ["expand_owner_alias", "bool", "no", "local"],
  ["export_environment", "str", "TZ MAIL_CONFIG LANG", "global"],
  ["fallback_transport", "str", "", "local"],
  ["fallback_transport_maps", "str", "", "local"],
  ["fast_flush_domains", "str", "$relay_domains", "global"],
  ["fast_flush_purge_time", "time", "7d", "flush", 1, 0],
  ["fast_flush_refresh_time", "time", "12h", "flush", 1, 0],
  ["fault_injection_code", "int", "0", "global"],
  ["flush_service_name", "str", "flush", "global", 1, 0],
  ["fork_attempts", "int", "5", "global", 1, 0],
  ["fork_delay", "time", "1s", "global", 1, 0],
  ["forward_expansion_filter", "str", "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "local", 1, 0],
  ["forward_path", "raw", "$home/.forward${recipient_delimiter}${extension}, $home/.forward", "local"],
  ["frozen_delivered_to", "bool", "yes", "local"],
  ["hash_queue_depth", "int", "1", "global", 1, 0],
  ["hash_queue_names", "str", "deferred, defer", "global", 1, 0],
  ["header_address_token_limit", "int", "10240", "global", 1, 0],
  ["header_checks", "str", "", "cleanup"],
  ["header_from_format", "str", "standard", "bounce cleanup smtp smtpd", 1, 0],
  ["header_size_limit", "int", "102400", "global", 1, 0],
  ["helpful_warnings", "bool", "yes", "global"],
  ["home_mailbox", "str", "", "local"],
  ["hopcount_limit", "int", "50", "cleanup", 1, 0],
  ["html_directory", "str", "/usr/share/doc/postfix/html", "postfix", 1, 0],
  ["ignore_mx_lookup_error", "bool", "no", "smtp"],
  ["import_environment", "str", "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME", "global"],
  ["in_flow_delay", "time", "1s", "global", 0, 10],
  ["inet_interfaces", "str", "all", "global"],
  ["inet_protocols", "str", "all", "global"],
  ["info_log_address_format", "str", "external", "global", 1, 0],
  ["initial_destination_concurrency", "int", "5", "oqmgr qmgr", 1, 0],
  ["internal_mail_filter_classes", "str", "", "global"],
  ["invalid_hostname_reject_code", "int", "501", "smtpd"],
  ["ipc_idle", "time", "5s", "global", 1, 0],
  ["ipc_timeout", "time", "3600s", "global", 1, 0],
  ["ipc_ttl", "time", "1000s", "global", 1, 0],
  ["known_tcp_ports", "str", "lmtp=24, smtp=25, smtps=submissions=465, submission=587", "global"],
  ["line_length_limit", "int", "2048", "global", 512, 0],
  ["lmdb_map_size", "long", "16777216", "global", 1, 0],
  ["lmtp_address_preference", "str", "any", "smtp", 1, 0],
  ["lmtp_address_verify_target", "str", "rcpt", "smtp", 1, 0],
  ["lmtp_assume_final", "bool", "no", "smtp"],
  ["lmtp_balance_inet_protocols", "bool", "yes", "smtp"],
  ["lmtp_bind_address", "str", "", "smtp"],
  ["lmtp_bind_address6", "str", "", "smtp"],
  ["lmtp_bind_address_enforce", "bool", "no", "smtp"],
  ["lmtp_body_checks", "str", "", "smtp"],
  ["lmtp_cname_overrides_servername", "bool", "no", "smtp"],
  ["lmtp_connect_timeout", "time", "0s", "smtp"],
  ["lmtp_connection_cache_destinations", "str", "", "smtp"],
  ["lmtp_connection_cache_on_demand", "bool", "yes", "smtp"],
  ["lmtp_connection_cache_time_limit", "time", "2s", "smtp", 1, 0],
  ["lmtp_connection_reuse_count_limit", "int", "0", "smtp"],
  ["lmtp_connection_reuse_time_limit", "time", "300s", "smtp", 1, 0],
  ["lmtp_data_done_timeout", "time", "600s", "smtp", 1, 0],
  ["lmtp_data_init_timeout", "time", "120s", "smtp", 1, 0],
  ["lmtp_data_xfer_timeout", "time", "180s", "smtp", 1, 0],
  ["lmtp_defer_if_no_mx_address_found", "bool", "no", "smtp"],
  ["lmtp_delivery_status_filter", "str", "$default_delivery_status_filter", "smtp"],
  ["lmtp_discard_lhlo_keyword_address_maps", "str", "", "smtp"],
  ["lmtp_discard_lhlo_keywords", "str", "", "smtp"],
  ["lmtp_dns_reply_filter", "str", "", "smtp"],
  ["lmtp_dns_resolver_options", "str", "", "smtp"],
  ["lmtp_dns_support_level", "str", "", "smtp"],
  ["lmtp_enforce_tls", "bool", "no", "smtp"],
  ["lmtp_fallback_relay", "str", "", "smtp"],
  ["lmtp_generic_maps", "str", "", "smtp"],
  ["lmtp_header_checks", "str", "", "smtp"],
  ["lmtp_host_lookup", "str", "dns", "smtp", 1, 0],
  ["lmtp_lhlo_name", "str", "$myhostname", "smtp", 1, 0],
  ["lmtp_lhlo_timeout", "time", "300s", "smtp", 1, 0],
  ["lmtp_line_length_limit", "int", "998", "smtp"],
  ["lmtp_mail_timeout", "time", "300s", "smtp", 1, 0],
  ["lmtp_mime_header_checks", "str", "", "smtp"],
  ["lmtp_min_data_rate", "int", "500", "smtp", 1, 0],
  ["lmtp_mx_address_limit", "int", "5", "smtp"],
  ["lmtp_mx_session_limit", "int", "2", "smtp"],
  ["lmtp_nested_header_checks", "str", "", "smtp"],
  ["lmtp_per_request_deadline", "nbool", "${lmtp_per_record_deadline?{$lmtp_per_record_deadline}:{no}}", "smtp"],
  ["lmtp_pix_workaround_delay_time", "time", "10s", "smtp", 1, 0],
  ["lmtp_pix_workaround_maps", "str", "", "smtp"],
  ["lmtp_pix_workaround_threshold_time", "time", "500s", "smtp"],
  ["lmtp_pix_workarounds", "str", "disable_esmtp,delay_dotcrlf", "smtp"],
  ["lmtp_quit_timeout", "time", "300s", "smtp", 1, 0],
  ["lmtp_quote_rfc821_envelope", "bool", "yes", "smtp"],
  ["lmtp_randomize_addresses", "bool", "yes", "smtp"],
  ["lmtp_rcpt_timeout", "time", "300s", "smtp", 1, 0],
  ["lmtp_reply_filter", "str", "", "smtp"],
  ["lmtp_rset_timeout", "time", "20s", "smtp", 1, 0],
  ["lmtp_sasl_auth_cache_name", "str", "", "smtp"],
  ["lmtp_sasl_auth_cache_time", "time", "90d", "smtp"],
  ["lmtp_sasl_auth_enable", "bool", "no", "smtp"],
  ["lmtp_sasl_auth_soft_bounce", "bool", "yes", "smtp"],
  ["lmtp_sasl_mechanism_filter", "str", "", "smtp"],
  ["lmtp_sasl_password_maps", "str", "", "smtp"],
  ["lmtp_sasl_path", "str", "", "smtp"],
  ["lmtp_sasl_security_options", "str", "noplaintext, noanonymous", "smtp"],
  ["lmtp_sasl_tls_security_options", "str", "$lmtp_sasl_security_options", "smtp"],
  ["lmtp_sasl_tls_verified_security_options", "str", "$lmtp_sasl_tls_security_options", "smtp"],
  ["lmtp_sasl_type", "str", "cyrus", "smtp", 1, 0],
  ["lmtp_send_dummy_mail_auth", "bool", "no", "smtp"],
  ["lmtp_send_xforward_command", "bool", "no", "smtp"],
  ["lmtp_sender_dependent_authentication", "bool", "no", "smtp"],
  ["lmtp_skip_5xx_greeting", "bool", "yes", "smtp"],
  ["lmtp_skip_quit_response", "bool", "no", "smtp"],
  ["lmtp_starttls_timeout", "time", "300s", "smtp", 1, 0],
  ["lmtp_tcp_port", "str", "24", "smtp"],
  ["lmtp_tls_CAfile", "str", "", "smtp"],
  ["lmtp_tls_CApath", "str", "", "smtp"],
  ["lmtp_tls_block_early_mail_reply", "bool", "no", "smtp"],
  ["lmtp_tls_cert_file", "str", "", "smtp"],
  ["lmtp_tls_chain_files", "str", "", "smtp"],
  ["lmtp_tls_ciphers", "str", "medium", "smtp", 1, 0],
  ["lmtp_tls_connection_reuse", "bool", "no", "smtp"],
  ["lmtp_tls_dcert_file", "str", "", "smtp"],
  ["lmtp_tls_dkey_file", "str", "$lmtp_tls_dcert_file", "smtp"],
  ["lmtp_tls_eccert_file", "str", "", "smtp"],
  ["lmtp_tls_eckey_file", "str", "$lmtp_tls_eccert_file", "smtp"],
  ["lmtp_tls_enforce_peername", "bool", "yes", "smtp"],
  ["lmtp_tls_exclude_ciphers", "str", "", "smtp"],
  ["lmtp_tls_fingerprint_cert_match", "str", "", "smtp"],
  ["lmtp_tls_fingerprint_digest", "str", "${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}", "smtp", 1, 0],
  ["lmtp_tls_force_insecure_host_tlsa_lookup", "bool", "no", "smtp"],
  ["lmtp_tls_key_file", "str", "$lmtp_tls_cert_file", "smtp"],
  ["lmtp_tls_loglevel", "str", "0", "smtp tlsmgr"],
  ["lmtp_tls_mandatory_ciphers", "str", "medium", "smtp", 1, 0],
  ["lmtp_tls_mandatory_exclude_ciphers", "str", "", "smtp"],
  ["lmtp_tls_mandatory_protocols", "str", ">=TLSv1", "smtp"],
  ["lmtp_tls_note_starttls_offer", "bool", "no", "smtp"],
  ["lmtp_tls_per_site", "str", "", "smtp"],
  ["lmtp_tls_policy_maps", "str", "", "smtp"],
  ["lmtp_tls_protocols", "str", ">=TLSv1", "smtp"],
  ["lmtp_tls_scert_verifydepth", "int", "9", "smtp"],
  ["lmtp_tls_secure_cert_match", "str", "nexthop", "smtp", 1, 0],
  ["lmtp_tls_security_level", "str", "", "smtp"],
  ["lmtp_tls_servername", "str", "", "smtp"],
  ["lmtp_tls_session_cache_database", "str", "", "tlsmgr"],
  ["lmtp_tls_session_cache_timeout", "time", "3600s", "tlsmgr", 0, 8640000],
  ["lmtp_tls_trust_anchor_file", "str", "", "smtp"],
  ["lmtp_tls_verify_cert_match", "str", "hostname", "smtp", 1, 0],
  ["lmtp_tls_wrappermode", "bool", "no", "smtp"],
  ["lmtp_use_tls", "bool", "no", "smtp"],
  ["lmtp_xforward_timeout", "time", "300s", "smtp", 1, 0],
  ["local_command_shell", "str", "", "local"],
  ["local_delivery_status_filter", "str", "$default_delivery_status_filter", "local"],
  ["local_destination_concurrency_limit", "int", "2", "oqmgr qmgr"],
  ["local_destination_recipient_limit", "int", "1", "oqmgr qmgr"],
  ["local_header_rewrite_clients", "str", "permit_inet_interfaces", "smtpd"],
  ["local_login_sender_maps", "str", "static:*", "postdrop"],
  ["local_recipient_maps", "str", "proxy:unix:passwd.byname $alias_maps", "proxymap smtpd"],
  ["local_transport", "str", "local:$myhostname", "trivial-rewrite", 1, 0],
  ["luser_relay", "raw", "", "local"],
  ["mail_name", "str", "Postfix", "global", 1, 0],
  ["mail_owner", "str", "postfix", "global", 1, 0],
  ["mail_release_date", "str", "20240304", "global", 1, 0],
  ["mail_spool_directory", "str", "/var/mail", "local virtual"],
  ["mail_version", "str", "3.7.11", "global", 1, 0],
  ["mailbox_command", "raw", "", "local"],
  ["mailbox_command_maps", "str", "", "local"],
  ["mailbox_delivery_lock", "str", "fcntl, dotlock", "local", 1, 0],
  ["mailbox_size_limit", "long", "51200000", "local"],
  ["mailbox_transport", "str", "", "local"],
  ["mailbox_transport_maps", "str", "", "local"],
  ["maillog_file", "str", "", "global"],
  ["maillog_file_compressor", "str", "gzip", "global", 1, 0],
  ["maillog_file_prefixes", "str", "/var, /dev/stdout", "global", 1, 0],
  ["maillog_file_rotate_suffix", "str", "%Y%m%d-%H%M%S", "global", 1, 0],
  ["mailq_path", "str", "/usr/bin/mailq", "postfix", 1, 0],
  ["manpage_directory", "str", "/usr/share/man", "postfix", 1, 0],
  ["maps_rbl_domains", "str", "", "smtpd"],
  ["maps_rbl_reject_code", "int", "554", "smtpd"],
  ["masquerade_classes", "str", "envelope_sender, header_sender, header_recipient", "cleanup"],
  ["masquerade_domains", "str", "", "cleanup"],
  ["masquerade_exceptions", "str", "", "cleanup"],
  ["master_service_disable", "str", "", "master"],
  ["max_idle", "time", "100s", "global", 1, 0],
  ["max_use", "int", "100", "global", 1, 0],
  ["maximal_backoff_time", "time", "4000s", "oqmgr qmgr", 1, 0],
  ["maximal_queue_lifetime", "time", "5d", "bounce oqmgr qmgr", 0, 8640000],
  ["message_drop_headers", "str", "bcc, content-length, resent-bcc, return-path", "global"],
  ["message_reject_characters", "str", "", "cleanup"],
  ["message_size_limit", "long", "10240000", "global"],
  ["message_strip_characters", "str", "", "cleanup"],
  ["meta_directory", "str", "/etc/postfix", "global", 1, 0],
  ["milter_command_timeout", "time", "30s", "cleanup smtpd", 1, 0],
  ["milter_connect_macros", "str", "j {daemon_name} {daemon_addr} v _", "cleanup smtpd"],
  ["milter_connect_timeout", "time", "30s", "cleanup smtpd", 1, 0],
  ["milter_content_timeout", "time", "300s", "cleanup smtpd", 1, 0],
  ["milter_data_macros", "str", "i", "cleanup smtpd"],
  ["milter_default_action", "str", "tempfail", "cleanup smtpd", 1, 0],
  ["milter_end_of_data_macros", "str", "i", "cleanup smtpd"],
  ["milter_end_of_header_macros", "str", "i", "cleanup smtpd"],
  ["milter_header_checks", "str", "", "cleanup"],
  ["milter_helo_macros", "str", "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}", "cleanup smtpd"],
  ["milter_macro_daemon_name", "str", "$myhostname", "cleanup smtpd", 1, 0],
  ["milter_macro_defaults", "str", "", "cleanup smtpd"],
  ["milter_macro_v", "str", "$mail_name $mail_version", "cleanup smtpd", 1, 0],
  ["milter_mail_macros", "str", "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}", "cleanup smtpd"],
  ["milter_protocol", "str", "6", "cleanup smtpd", 1, 0],
  ["milter_rcpt_macros", "str", "i {rcpt_addr} {rcpt_host} {rcpt_mailer}", "cleanup smtpd"],
  ["milter_unknown_command_macros", "str", "", "cleanup smtpd"],
  ["mime_boundary_length_limit", "int", "2048", "global", 1, 0],
  ["mime_header_checks", "str", "$header_checks", "cleanup"],
  ["mime_nesting_limit", "int", "100", "global", 1, 0],
  ["minimal_backoff_time", "time", "300s", "oqmgr qmgr smtp", 1, 0],
  ["multi_instance_directories", "str", "", "global"],
  ["multi_instance_enable", "bool", "no", "global"],
  ["multi_instance_group", "str", "", "global"],
  ["multi_instance_name", "str", "", "global"],
  ["multi_instance_wrapper", "str", "", "global"],
  ["multi_recipient_bounce_reject_code", "int", "550", "smtpd"],
  ["mydestination", "str", "$myhostname, localhost.$mydomain, localhost", "global"],
  ["mydomain", "str", "", "global", 1, 0],
  ["myhostname", "str", "", "global", 1, 0],
  ["mynetworks", "str", "", "global"],
  ["mynetworks_style", "str", "${{$compatibility_level} <level {2} ? {subnet} : {host}}", "global", 1, 0],
  ["myorigin", "str", "$myhostname", "global", 1, 0],
  ["nested_header_checks", "str", "$header_checks", "cleanup"],
  ["newaliases_path", "str", "/usr/bin/newaliases", "postfix", 1, 0],
  ["non_fqdn_reject_code", "int", "504", "smtpd"],
  ["non_smtpd_milters", "str", "", "cleanup"],
  ["notify_classes", "str", "resource, software", "bounce smtp smtpd"],
  ["openssl_path", "str", "openssl", "tls", 1, 0],
  ["owner_request_special", "bool", "yes", "global"],
  ["parent_domain_matches_subdomains", "str", "debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,smtpd_access_maps", "global"],
  ["permit_mx_backup_networks", "str", "", "smtpd"],
  ["pickup_service_name", "str", "pickup", "global", 1, 0],
  ["pipe_delivery_status_filter", "str", "$default_delivery_status_filter", "pipe"],
  ["plaintext_reject_code", "int", "450", "smtpd"],
  ["postlog_service_name", "str", "postlog", "global", 1, 0],
  ["postlogd_watchdog_timeout", "time", "10s", "postlogd", 10, 0],
  ["postmulti_control_commands", "str", "reload flush", "postmulti"],
  ["postmulti_start_commands", "str", "start", "postmulti"],
  ["postmulti_stop_commands", "str", "stop abort drain quick-stop", "postmulti"],
  ["postscreen_access_list", "str", "permit_mynetworks", "postscreen"],
  ["postscreen_allowlist_interfaces", "str", "${postscreen_whitelist_interfaces?{$postscreen_whitelist_interfaces}:{static:all}}", "postscreen"],
  ["postscreen_bare_newline_action", "str", "ignore", "postscreen", 1, 0],
  ["postscreen_bare_newline_enable", "bool", "no", "postscreen"],
  ["postscreen_bare_newline_ttl", "time", "30d", "postscreen", 1, 0],
  ["postscreen_cache_cleanup_interval", "time", "12h", "postscreen"],
  ["postscreen_cache_map", "str", "btree:$data_directory/postscreen_cache", "postscreen proxymap"],
  ["postscreen_cache_retention_time", "time", "7d", "postscreen", 1, 0],
  ["postscreen_client_connection_count_limit", "nint", "$smtpd_client_connection_count_limit", "postscreen"],
  ["postscreen_command_count_limit", "int", "20", "postscreen", 1, 0],
  ["postscreen_command_filter", "str", "", "postscreen"],
  ["postscreen_command_time_limit", "time", "${stress?{10}:{300}}s", "postscreen", 1, 0],
  ["postscreen_denylist_action", "str", "${postscreen_blacklist_action?{$postscreen_blacklist_action}:{ignore}}", "postscreen", 1, 0],
  ["postscreen_disable_vrfy_command", "nbool", "$disable_vrfy_command", "postscreen"],
  ["postscreen_discard_ehlo_keyword_address_maps", "str", "$smtpd_discard_ehlo_keyword_address_maps", "postscreen"],
  ["postscreen_discard_ehlo_keywords", "str", "$smtpd_discard_ehlo_keywords", "postscreen"],
  ["postscreen_dnsbl_action", "str", "ignore", "postscreen", 1, 0],
  ["postscreen_dnsbl_allowlist_threshold", "nint", "${postscreen_dnsbl_whitelist_threshold?{$postscreen_dnsbl_whitelist_threshold}:{0}}", "postscreen"],
  ["postscreen_dnsbl_max_ttl", "time", "${postscreen_dnsbl_ttl?{$postscreen_dnsbl_ttl}:{1}}h", "postscreen", 1, 0],
  ["postscreen_dnsbl_min_ttl", "time", "60s", "postscreen", 1, 0],
  ["postscreen_dnsbl_reply_map", "str", "", "postscreen"],
  ["postscreen_dnsbl_sites", "str", "", "postscreen"],
  ["postscreen_dnsbl_threshold", "int", "1", "postscreen", 1, 0],
  ["postscreen_dnsbl_timeout", "time", "10s", "postscreen", 1, 0],
  ["postscreen_enforce_tls", "nbool", "$smtpd_enforce_tls", "postscreen"],
  ["postscreen_expansion_filter", "raw", "$smtpd_expansion_filter", "postscreen", 1, 0],
  ["postscreen_forbidden_commands", "str", "$smtpd_forbidden_commands", "postscreen"],
  ["postscreen_greet_action", "str", "ignore", "postscreen", 1, 0],
  ["postscreen_greet_banner", "str", "$smtpd_banner", "postscreen"],
  ["postscreen_greet_ttl", "time", "1d", "postscreen", 1, 0],
  ["postscreen_greet_wait", "time", "${stress?{2}:{6}}s", "postscreen", 1, 0],
  ["postscreen_helo_required", "nbool", "$smtpd_helo_required", "postscreen"],
  ["postscreen_non_smtp_command_action", "str", "drop", "postscreen", 1, 0],
  ["postscreen_non_smtp_command_enable", "bool", "no", "postscreen"],
  ["postscreen_non_smtp_command_ttl", "time", "30d", "postscreen", 1, 0],
  ["postscreen_pipelining_action", "str", "enforce", "postscreen", 1, 0],
  ["postscreen_pipelining_enable", "bool", "no", "postscreen"],
  ["postscreen_pipelining_ttl", "time", "30d", "postscreen", 1, 0],
  ["postscreen_post_queue_limit", "nint", "$default_process_limit", "postscreen", 5, 0],
  ["postscreen_pre_queue_limit", "nint", "$default_process_limit", "postscreen", 10, 0],
  ["postscreen_reject_footer", "raw", "$smtpd_reject_footer", "postscreen"],
  ["postscreen_reject_footer_maps", "str", "$smtpd_reject_footer_maps", "postscreen"],
  ["postscreen_tls_security_level", "str", "$smtpd_tls_security_level", "postscreen"],
  ["postscreen_upstream_proxy_protocol", "str", "", "postscreen"],
  ["postscreen_upstream_proxy_timeout", "time", "5s", "postscreen", 1, 0],
  ["postscreen_use_tls", "nbool", "$smtpd_use_tls", "postscreen"],
  ["postscreen_watchdog_timeout", "time", "10s", "postscreen", 10, 0],
  ["prepend_delivered_header", "str", "command, file, forward", "local"],
  ["process_id", "int", "", "global"],
  ["process_id_directory", "str", "pid", "global", 1, 0],
  ["process_name", "str", "", "global"],
  ["propagate_unmatched_extensions", "str", "canonical, virtual", "cleanup local smtp"],
  ["proxy_interfaces", "str", "", "global"],
  ["proxy_read_maps", "str", "$local_recipient_maps $mydestination $virtual_alias_maps $virtual_alias_domains $virtual_mailbox_maps $virtual_mailbox_domains $relay_recipient_maps $relay_domains $canonical_maps $sender_canonical_maps $recipient_canonical_maps $relocated_maps $transport_maps $mynetworks $smtpd_sender_login_maps $sender_bcc_maps $recipient_bcc_maps $smtp_generic_maps $lmtp_generic_maps $alias_maps $smtpd_client_restrictions $smtpd_helo_restrictions $smtpd_sender_restrictions $smtpd_relay_restrictions $smtpd_recipient_restrictions $address_verify_sender_dependent_default_transport_maps $address_verify_sender_dependent_relayhost_maps $address_verify_transport_maps $fallback_transport_maps $lmtp_discard_lhlo_keyword_address_maps $lmtp_pix_workaround_maps $lmtp_sasl_password_maps $lmtp_tls_policy_maps $mailbox_command_maps $mailbox_transport_maps $postscreen_discard_ehlo_keyword_address_maps $rbl_reply_maps $sender_dependent_default_transport_maps $sender_dependent_relayhost_maps $smtp_discard_ehlo_keyword_address_maps $smtp_pix_workaround_maps $smtp_sasl_password_maps $smtp_tls_policy_maps $smtpd_discard_ehlo_keyword_address_maps $smtpd_milter_maps $virtual_gid_maps $virtual_uid_maps $local_login_sender_maps $postscreen_reject_footer_maps $smtpd_reject_footer_maps $tls_server_sni_maps $tlsproxy_client_policy_maps $default_delivery_status_filter $lmtp_delivery_status_filter $lmtp_dns_reply_filter $lmtp_reply_filter $local_delivery_status_filter $pipe_delivery_status_filter $postscreen_command_filter $smtp_delivery_status_filter $smtp_dns_reply_filter $smtp_reply_filter $smtpd_command_filter $smtpd_dns_reply_filter $virtual_delivery_status_filter $body_checks $header_checks $lmtp_body_checks $lmtp_header_checks $lmtp_mime_header_checks $lmtp_nested_header_checks $milter_header_checks $mime_header_checks $nested_header_checks $smtp_body_checks $smtp_header_checks $smtp_mime_header_checks $smtp_nested_header_checks", "proxymap"],
  ["proxy_write_maps", "str", "$smtp_sasl_auth_cache_name $lmtp_sasl_auth_cache_name $address_verify_map $postscreen_cache_map", "proxymap"],
  ["proxymap_service_name", "str", "proxymap", "global", 1, 0],
  ["proxywrite_service_name", "str", "proxywrite", "global", 1, 0],
  ["qmgr_clog_warn_time", "time", "300s", "oqmgr qmgr"],
  ["qmgr_daemon_timeout", "time", "1000s", "oqmgr qmgr", 1, 0],
  ["qmgr_fudge_factor", "int", "100", "oqmgr", 10, 100],
  ["qmgr_ipc_timeout", "time", "60s", "oqmgr qmgr", 1, 0],
  ["qmgr_message_active_limit", "int", "20000", "oqmgr qmgr", 1, 0],
  ["qmgr_message_recipient_limit", "int", "20000", "oqmgr qmgr", 1, 0],
  ["qmgr_message_recipient_minimum", "int", "10", "qmgr", 1, 0],
  ["qmqpd_authorized_clients", "str", "", "qmqpd"],
  ["qmqpd_client_port_logging", "bool", "no", "qmqpd"],
  ["qmqpd_error_delay", "time", "1s", "qmqpd"],
  ["qmqpd_timeout", "time", "300s", "qmqpd", 1, 0],
  ["queue_directory", "str", "/var/spool/postfix", "global", 1, 0],
  ["queue_file_attribute_count_limit", "int", "100", "cleanup", 1, 0],
  ["queue_minfree", "long", "0", "smtpd"],
  ["queue_run_delay", "time", "300s", "oqmgr qmgr smtp", 1, 0],
  ["queue_service_name", "str", "qmgr", "global", 1, 0],
  ["rbl_reply_maps", "str", "", "smtpd"],
  ["readme_directory", "str", "/usr/share/doc/postfix", "postfix", 1, 0],
  ["receive_override_options", "str", "", "pickup qmqpd smtpd"],
  ["recipient_bcc_maps", "str", "", "cleanup"],
  ["recipient_canonical_classes", "str", "envelope_recipient, header_recipient", "cleanup", 1, 0],
  ["recipient_canonical_maps", "str", "", "cleanup proxymap smtpd"],
  ["recipient_delimiter", "str", "", "global"],
  ["reject_code", "int", "554", "smtpd"],
  ["reject_tempfail_action", "str", "defer_if_permit", "smtpd", 1, 0],
  ["relay_clientcerts", "str", "", "smtpd"],
  ["relay_domains", "str", "${{$compatibility_level} <level {2} ? {$mydestination} : {}}", "global"],
  ["relay_domains_reject_code", "int", "554", "smtpd"],
  ["relay_recipient_maps", "str", "", "proxymap smtpd"],
  ["relay_transport", "str", "relay", "trivial-rewrite", 1, 0],
  ["relayhost", "str", "", "global"],
  ["relocated_maps", "str", "", "proxymap trivial-rewrite"],
  ["remote_header_rewrite_domain", "str", "", "cleanup trivial-rewrite"],
  ["require_home_directory", "bool", "no", "local"],
  ["reset_owner_alias", "bool", "no", "local"],
  ["resolve_dequoted_address", "bool", "yes", "trivial-rewrite"],
  ["resolve_null_domain", "bool", "no", "trivial-rewrite"],
  ["resolve_numeric_domain", "bool", "no", "trivial-rewrite"],
  ["respectful_logging", "nbool", "${{$compatibility_level} <level {3.6} ? {no} : {yes}}", "global"],
  ["rewrite_service_name", "str", "rewrite", "global", 1, 0],
  ["sample_directory", "str", "/etc/postfix", "postfix", 1, 0],
  ["send_cyrus_sasl_authzid", "bool", "no", "global"],
  ["sender_bcc_maps", "str", "", "cleanup"],
  ["sender_canonical_classes", "str", "envelope_sender, header_sender", "cleanup", 1, 0],
  ["sender_canonical_maps", "str", "", "cleanup proxymap smtpd"],
  ["sender_dependent_default_transport_maps", "str", "", "trivial-rewrite"],
  ["sender_dependent_relayhost_maps", "str", "", "trivial-rewrite"],
  ["sendmail_fix_line_endings", "str", "always", "sendmail", 1, 0],
  ["sendmail_path", "str", "/usr/sbin/sendmail", "postfix", 1, 0],
  ["service_name", "str", "", "global"],
  ["service_throttle_time", "time", "60s", "master", 1, 0],
  ["setgid_group", "str", "postdrop", "global", 1, 0],
  ["shlib_directory", "str", "/usr/lib/postfix", "global", 1, 0],
  ["show_user_unknown_table_name", "bool", "yes", "smtpd trivial-rewrite"],
  ["showq_service_name", "str", "showq", "global", 1, 0],
  ["smtp_address_preference", "str", "any", "smtp", 1, 0],
  ["smtp_address_verify_target", "str", "rcpt", "smtp", 1, 0],
  ["smtp_always_send_ehlo", "bool", "yes", "smtp"],
  ["smtp_balance_inet_protocols", "bool", "yes", "smtp"],
  ["smtp_bind_address", "str", "", "smtp"],
  ["smtp_bind_address6", "str", "", "smtp"],
  ["smtp_bind_address_enforce", "bool", "no", "smtp"],
  ["smtp_body_checks", "str", "", "smtp"],
  ["smtp_cname_overrides_servername", "bool", "no", "smtp"],
  ["smtp_connect_timeout", "time", "30s", "smtp"],
  ["smtp_connection_cache_destinations", "str", "", "smtp"],
  ["smtp_connection_cache_on_demand", "bool", "yes", "smtp"],
  ["smtp_connection_cache_time_limit", "time", "2s", "smtp", 1, 0],
  ["smtp_connection_reuse_count_limit", "int", "0", "smtp"],
  ["smtp_connection_reuse_time_limit", "time", "300s", "smtp", 1, 0],
  ["smtp_data_done_timeout", "time", "600s", "smtp", 1, 0],
  ["smtp_data_init_timeout", "time", "120s", "smtp", 1, 0],
  ["smtp_data_xfer_timeout", "time", "180s", "smtp", 1, 0],
  ["smtp_defer_if_no_mx_address_found", "bool", "no", "smtp"],
  ["smtp_delivery_status_filter", "str", "$default_delivery_status_filter", "smtp"],
  ["smtp_discard_ehlo_keyword_address_maps", "str", "", "smtp"],
  ["smtp_discard_ehlo_keywords", "str", "", "smtp"],
  ["smtp_dns_reply_filter", "str", "", "smtp"],
  ["smtp_dns_resolver_options", "str", "", "smtp"],
  ["smtp_dns_support_level", "str", "", "smtp"],
  ["smtp_enforce_tls", "bool", "no", "smtp tlsproxy"],
  ["smtp_fallback_relay", "str", "$fallback_relay", "smtp"],
  ["smtp_generic_maps", "str", "", "smtp"],
  ["smtp_header_checks", "str", "", "smtp"],
  ["smtp_helo_name", "str", "$myhostname", "smtp", 1, 0],
  ["smtp_helo_timeout", "time", "300s", "smtp", 1, 0],
  ["smtp_host_lookup", "str", "dns", "smtp", 1, 0],
  ["smtp_line_length_limit", "int", "998", "smtp"],
  ["smtp_mail_timeout", "time", "300s", "smtp", 1, 0],
  ["smtp_mime_header_checks", "str", "", "smtp"],
  ["smtp_min_data_rate", "int", "500", "smtp", 1, 0],
  ["smtp_mx_address_limit", "int", "5", "smtp"],
  ["smtp_mx_session_limit", "int", "2", "smtp"],
  ["smtp_nested_header_checks", "str", "", "smtp"],
  ["smtp_never_send_ehlo", "bool", "no", "smtp"],
  ["smtp_per_request_deadline", "nbool", "${smtp_per_record_deadline?{$smtp_per_record_deadline}:{no}}", "smtp"],
  ["smtp_pix_workaround_delay_time", "time", "10s", "smtp", 1, 0],
  ["smtp_pix_workaround_maps", "str", "", "smtp"],
  ["smtp_pix_workaround_threshold_time", "time", "500s", "smtp"],
  ["smtp_pix_workarounds", "str", "disable_esmtp,delay_dotcrlf", "smtp"],
  ["smtp_quit_timeout", "time", "300s", "smtp", 1, 0],
  ["smtp_quote_rfc821_envelope", "bool", "yes", "smtp"],
  ["smtp_randomize_addresses", "bool", "yes", "smtp"],
  ["smtp_rcpt_timeout", "time", "300s", "smtp", 1, 0],
  ["smtp_reply_filter", "str", "", "smtp"],
  ["smtp_rset_timeout", "time", "20s", "smtp", 1, 0],
  ["smtp_sasl_auth_cache_name", "str", "", "smtp"],
  ["smtp_sasl_auth_cache_time", "time", "90d", "smtp"],
  ["smtp_sasl_auth_enable", "bool", "no", "smtp"],
  ["smtp_sasl_auth_soft_bounce", "bool", "yes", "smtp"],
  ["smtp_sasl_mechanism_filter", "str", "", "smtp"],
  ["smtp_sasl_password_maps", "str", "", "smtp"],
  ["smtp_sasl_path", "str", "", "smtp"],
  ["smtp_sasl_security_options", "str", "noplaintext, noanonymous", "smtp"],
  ["smtp_sasl_tls_security_options", "str", "$smtp_sasl_security_options", "smtp"],
  ["smtp_sasl_tls_verified_security_options", "str", "$smtp_sasl_tls_security_options", "smtp"],
  ["smtp_sasl_type", "str", "cyrus", "smtp", 1, 0],
  ["smtp_send_dummy_mail_auth", "bool", "no", "smtp"],
  ["smtp_send_xforward_command", "bool", "no", "smtp"],
  ["smtp_sender_dependent_authentication", "bool", "no", "smtp"],
  ["smtp_skip_5xx_greeting", "bool", "yes", "smtp"],
  ["smtp_skip_quit_response", "bool", "yes", "smtp"],
  ["smtp_starttls_timeout", "time", "300s", "smtp", 1, 0],
  ["smtp_tcp_port", "str", "smtp", "smtp"],
  ["smtp_tls_CAfile", "str", "", "smtp tlsproxy"],
  ["smtp_tls_CApath", "str", "", "smtp tlsproxy"],
  ["smtp_tls_block_early_mail_reply", "bool", "no", "smtp"],
  ["smtp_tls_cert_file", "str", "", "smtp tlsproxy"],
  ["smtp_tls_chain_files", "str", "", "smtp tlsproxy"],
  ["smtp_tls_ciphers", "str", "medium", "smtp", 1, 0],
  ["smtp_tls_connection_reuse", "bool", "no", "smtp"],
  ["smtp_tls_dane_insecure_mx_policy", "str", "${{$smtp_tls_security_level} == {dane} ? {dane} : {may}}", "smtp"],
  ["smtp_tls_dcert_file", "str", "", "smtp tlsproxy"],
  ["smtp_tls_dkey_file", "str", "$smtp_tls_dcert_file", "smtp tlsproxy"],
  ["smtp_tls_eccert_file", "str", "", "smtp tlsproxy"],
  ["smtp_tls_eckey_file", "str", "$smtp_tls_eccert_file", "smtp tlsproxy"],
  ["smtp_tls_enforce_peername", "bool", "yes", "smtp"],
  ["smtp_tls_exclude_ciphers", "str", "", "smtp"],
  ["smtp_tls_fingerprint_cert_match", "str", "", "smtp"],
  ["smtp_tls_fingerprint_digest", "str", "${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}", "posttls-finger smtp tlsproxy", 1, 0],
  ["smtp_tls_force_insecure_host_tlsa_lookup", "bool", "no", "smtp"],
  ["smtp_tls_key_file", "str", "$smtp_tls_cert_file", "smtp tlsproxy"],
  ["smtp_tls_loglevel", "str", "0", "smtp tlsmgr tlsproxy"],
  ["smtp_tls_mandatory_ciphers", "str", "medium", "smtp", 1, 0],
  ["smtp_tls_mandatory_exclude_ciphers", "str", "", "smtp"],
  ["smtp_tls_mandatory_protocols", "str", ">=TLSv1", "smtp"],
  ["smtp_tls_note_starttls_offer", "bool", "no", "smtp"],
  ["smtp_tls_per_site", "str", "", "smtp tlsproxy"],
  ["smtp_tls_policy_maps", "str", "", "smtp tlsproxy"],
  ["smtp_tls_protocols", "str", ">=TLSv1", "smtp"],
  ["smtp_tls_scert_verifydepth", "int", "9", "smtp tlsproxy"],
  ["smtp_tls_secure_cert_match", "str", "nexthop, dot-nexthop", "smtp", 1, 0],
  ["smtp_tls_security_level", "str", "", "smtp tlsproxy"],
  ["smtp_tls_servername", "str", "", "smtp"],
  ["smtp_tls_session_cache_database", "str", "", "tlsmgr"],
  ["smtp_tls_session_cache_timeout", "time", "3600s", "tlsmgr", 0, 8640000],
  ["smtp_tls_trust_anchor_file", "str", "", "smtp"],
  ["smtp_tls_verify_cert_match", "str", "hostname", "smtp", 1, 0],
  ["smtp_tls_wrappermode", "bool", "no", "smtp"],
  ["smtp_use_tls", "bool", "no", "smtp tlsproxy"],
  ["smtp_xforward_timeout", "time", "300s", "smtp", 1, 0],
  ["smtpd_authorized_verp_clients", "str", "$authorized_verp_clients", "smtpd"],
  ["smtpd_authorized_xclient_hosts", "str", "", "smtpd"],
  ["smtpd_authorized_xforward_hosts", "str", "", "smtpd"],
  ["smtpd_banner", "str", "$myhostname ESMTP $mail_name", "postscreen smtpd", 1, 0],
  ["smtpd_client_auth_rate_limit", "int", "0", "smtpd"],
  ["smtpd_client_connection_count_limit", "int", "50", "postscreen smtpd"],
  ["smtpd_client_connection_rate_limit", "int", "0", "smtpd"],
  ["smtpd_client_event_limit_exceptions", "str", "${smtpd_client_connection_limit_exceptions:$mynetworks}", "smtpd"],
  ["smtpd_client_message_rate_limit", "int", "0", "smtpd"],
  ["smtpd_client_new_tls_session_rate_limit", "int", "0", "smtpd"],
  ["smtpd_client_port_logging", "bool", "no", "smtpd"],
  ["smtpd_client_recipient_rate_limit", "int", "0", "smtpd"],
  ["smtpd_client_restrictions", "str", "", "smtpd"],
  ["smtpd_command_filter", "str", "", "postscreen smtpd"],
  ["smtpd_data_restrictions", "str", "", "smtpd"],
  ["smtpd_delay_open_until_valid_rcpt", "bool", "yes", "smtpd"],
  ["smtpd_delay_reject", "bool", "yes", "smtpd"],
  ["smtpd_discard_ehlo_keyword_address_maps", "str", "", "postscreen smtpd"],
  ["smtpd_discard_ehlo_keywords", "str", "", "postscreen smtpd"],
  ["smtpd_dns_reply_filter", "str", "", "smtpd"],
  ["smtpd_end_of_data_restrictions", "str", "", "smtpd"],
  ["smtpd_enforce_tls", "bool", "no", "postscreen smtpd tlsproxy"],
  ["smtpd_error_sleep_time", "time", "1s", "smtpd"],
  ["smtpd_etrn_restrictions", "str", "", "smtpd"],
  ["smtpd_expansion_filter", "raw", "\\t\\40!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~", "postscreen smtpd", 1, 0],
  ["smtpd_forbid_bare_newline", "str", "no", "smtpd", 1, 0],
  ["smtpd_forbid_bare_newline_exclusions", "str", "$mynetworks", "smtpd"],
  ["smtpd_forbid_bare_newline_reject_code", "int", "550", "smtpd", 500, 599],
  ["smtpd_forbid_unauth_pipelining", "bool", "no", "smtpd"],
  ["smtpd_forbidden_commands", "str", "CONNECT GET POST regexp:{{/^[^A-Z]/ Bogus}}", "postscreen smtpd"],
  ["smtpd_hard_error_limit", "nint", "${stress?{1}:{20}}", "smtpd", 1, 0],
  ["smtpd_helo_required", "bool", "no", "postscreen smtpd"],
  ["smtpd_helo_restrictions", "str", "", "smtpd"],
  ["smtpd_history_flush_threshold", "int", "100", "smtpd", 1, 0],
  ["smtpd_junk_command_limit", "nint", "${stress?{1}:{100}}", "smtpd", 1, 0],
  ["smtpd_log_access_permit_actions", "str", "", "smtpd"],
  ["smtpd_milter_maps", "str", "", "smtpd"],
  ["smtpd_milters", "str", "", "smtpd"],
  ["smtpd_min_data_rate", "int", "500", "smtpd", 1, 0],
  ["smtpd_noop_commands", "str", "", "smtpd"],
  ["smtpd_null_access_lookup_key", "str", "<>", "smtpd"],
  ["smtpd_peername_lookup", "bool", "yes", "smtpd"],
  ["smtpd_per_request_deadline", "nbool", "${smtpd_per_record_deadline?{$smtpd_per_record_deadline}:{${stress?{yes}:{no}}}}", "smtpd"],
  ["smtpd_policy_service_default_action", "str", "451 4.3.5 Server configuration problem", "smtpd", 1, 0],
  ["smtpd_policy_service_max_idle", "time", "300s", "smtpd", 1, 0],
  ["smtpd_policy_service_max_ttl", "time", "1000s", "smtpd", 1, 0],
  ["smtpd_policy_service_policy_context", "str", "", "smtpd"],
  ["smtpd_policy_service_request_limit", "int", "0", "smtpd"],
  ["smtpd_policy_service_retry_delay", "time", "1s", "smtpd", 1, 0],
  ["smtpd_policy_service_timeout", "time", "100s", "smtpd", 1, 0],
  ["smtpd_policy_service_try_limit", "int", "2", "smtpd", 1, 0],
  ["smtpd_proxy_ehlo", "str", "$myhostname", "smtpd"],
  ["smtpd_proxy_filter", "str", "", "smtpd"],
  ["smtpd_proxy_options", "str", "", "smtpd"],
  ["smtpd_proxy_timeout", "time", "100s", "smtpd", 1, 0],
  ["smtpd_recipient_limit", "int", "1000", "smtpd", 1, 0],
  ["smtpd_recipient_overshoot_limit", "int", "1000", "smtpd", 1, 0],
  ["smtpd_recipient_restrictions", "str", "", "smtpd"],
  ["smtpd_reject_footer", "raw", "", "postscreen smtpd"],
  ["smtpd_reject_footer_maps", "str", "", "smtpd"],
  ["smtpd_reject_unlisted_recipient", "bool", "yes", "smtpd"],
  ["smtpd_reject_unlisted_sender", "bool", "no", "smtpd"],
  ["smtpd_relay_before_recipient_restrictions", "nbool", "${{$compatibility_level} <level {3.6} ? {no} : {yes}}", "smtpd"],
  ["smtpd_relay_restrictions", "str", "${{$compatibility_level} <level {1} ? {} : {permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination}}", "smtpd"],
  ["smtpd_restriction_classes", "str", "", "smtpd"],
  ["smtpd_sasl_auth_enable", "bool", "no", "smtpd"],
  ["smtpd_sasl_authenticated_header", "bool", "no", "smtpd"],
  ["smtpd_sasl_exceptions_networks", "str", "", "smtpd"],
  ["smtpd_sasl_local_domain", "str", "", "smtpd"],
  ["smtpd_sasl_mechanism_filter", "str", "!external, static:rest", "smtpd"],
  ["smtpd_sasl_path", "str", "smtpd", "smtpd", 1, 0],
  ["smtpd_sasl_response_limit", "int", "12288", "smtpd", 12288, 0],
  ["smtpd_sasl_security_options", "str", "noanonymous", "smtpd"],
  ["smtpd_sasl_service", "str", "smtp", "smtpd", 1, 0],
  ["smtpd_sasl_tls_security_options", "str", "$smtpd_sasl_security_options", "smtpd"],
  ["smtpd_sasl_type", "str", "cyrus", "smtpd", 1, 0],
  ["smtpd_sender_login_maps", "str", "", "proxymap smtpd"],
  ["smtpd_sender_restrictions", "str", "", "smtpd"],
  ["smtpd_service_name", "str", "smtpd", "postscreen", 1, 0],
  ["smtpd_soft_error_limit", "nint", "10", "smtpd", 1, 0],
  ["smtpd_starttls_timeout", "time", "${stress?{10}:{300}}s", "smtpd", 1, 0],
  ["smtpd_timeout", "time", "${stress?{10}:{300}}s", "smtpd", 1, 0],
  ["smtpd_tls_CAfile", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_CApath", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_always_issue_session_ids", "bool", "yes", "smtpd tlsproxy"],
  ["smtpd_tls_ask_ccert", "bool", "no", "smtpd tlsproxy"],
  ["smtpd_tls_auth_only", "bool", "no", "smtpd"],
  ["smtpd_tls_ccert_verifydepth", "int", "9", "smtpd tlsproxy"],
  ["smtpd_tls_cert_file", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_chain_files", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_ciphers", "str", "medium", "smtpd tlsproxy", 1, 0],
  ["smtpd_tls_dcert_file", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_dh1024_param_file", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_dh512_param_file", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_dkey_file", "str", "$smtpd_tls_dcert_file", "smtpd tlsproxy"],
  ["smtpd_tls_eccert_file", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_eckey_file", "str", "$smtpd_tls_eccert_file", "smtpd tlsproxy"],
  ["smtpd_tls_eecdh_grade", "str", "auto", "smtpd tlsproxy", 1, 0],
  ["smtpd_tls_exclude_ciphers", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_fingerprint_digest", "str", "${{$compatibility_level} <level {3.6} ? {md5} : {sha256}}", "smtpd tlsproxy", 1, 0],
  ["smtpd_tls_key_file", "str", "$smtpd_tls_cert_file", "smtpd tlsproxy"],
  ["smtpd_tls_loglevel", "str", "0", "smtpd tlsmgr tlsproxy"],
  ["smtpd_tls_mandatory_ciphers", "str", "medium", "smtpd tlsproxy", 1, 0],
  ["smtpd_tls_mandatory_exclude_ciphers", "str", "", "smtpd tlsproxy"],
  ["smtpd_tls_mandatory_protocols", "str", ">=TLSv1", "smtpd tlsproxy"],
  ["smtpd_tls_protocols", "str", ">=TLSv1", "smtpd tlsproxy"],
  ["smtpd_tls_received_header", "bool", "no", "smtpd"],
  ["smtpd_tls_req_ccert", "bool", "no", "smtpd tlsproxy"],
  ["smtpd_tls_security_level", "str", "", "postscreen smtpd tlsproxy"],
  ["smtpd_tls_session_cache_database", "str", "", "tlsmgr"],
  ["smtpd_tls_session_cache_timeout", "time", "3600s", "tlsmgr", 0, 8640000],
  ["smtpd_tls_wrappermode", "bool", "no", "smtpd"],
  ["smtpd_upstream_proxy_protocol", "str", "", "smtpd"],
  ["smtpd_upstream_proxy_timeout", "time", "5s", "smtpd", 1, 0],
  ["smtpd_use_tls", "bool", "no", "postscreen smtpd tlsproxy"],
  ["smtputf8_autodetect_classes", "str", "sendmail, verify", "global", 1, 0],
  ["smtputf8_enable", "nbool", "${{$compatibility_level} <level {1} ? {no} : {yes}}", "global"],
  ["soft_bounce", "bool", "no", "global"],
  ["stale_lock_time", "time", "500s", "global", 1, 0],
  ["stress", "str", "", "smtpd"],
  ["strict_7bit_headers", "bool", "no", "global"],
  ["strict_8bitmime", "bool", "no", "global"],
  ["strict_8bitmime_body", "bool", "no", "global"],
  ["strict_mailbox_ownership", "bool", "yes", "local virtual"],
  ["strict_mime_encoding_domain", "bool", "no", "global"],
  ["strict_rfc821_envelopes", "bool", "no", "smtpd"],
  ["strict_smtputf8", "bool", "no", "global"],
  ["sun_mailtool_compatibility", "bool", "no", "local"],
  ["swap_bangpath", "bool", "yes", "trivial-rewrite"],
  ["syslog_facility", "str", "mail", "global", 1, 0],
  ["syslog_name", "str", "${multi_instance_name?{$multi_instance_name}:{postfix}}", "global", 1, 0],
  ["tcp_windowsize", "int", "0", "global"],
  ["tls_append_default_CA", "bool", "no", "tls"],
  ["tls_config_file", "str", "default", "tls"],
  ["tls_config_name", "str", "", "tls"],
  ["tls_daemon_random_bytes", "int", "32", "tls", 1, 0],
  ["tls_dane_digests", "str", "sha512 sha256", "tls", 1, 0],
  ["tls_disable_workarounds", "str", "", "tls"],
  ["tls_eecdh_auto_curves", "str", "X25519 X448 prime256v1 secp521r1 secp384r1", "tls", 1, 0],
  ["tls_eecdh_strong_curve", "str", "prime256v1", "tls", 1, 0],
  ["tls_eecdh_ultra_curve", "str", "secp384r1", "tls", 1, 0],
  ["tls_export_cipherlist", "str", "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH", "tls", 1, 0],
  ["tls_fast_shutdown_enable", "bool", "yes", "tls"],
  ["tls_high_cipherlist", "str", "aNULL:-aNULL:HIGH:@STRENGTH", "tls", 1, 0],
  ["tls_legacy_public_key_fingerprints", "bool", "no", "tls"],
  ["tls_low_cipherlist", "str", "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH", "tls", 1, 0],
  ["tls_medium_cipherlist", "str", "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH", "tls", 1, 0],
  ["tls_null_cipherlist", "str", "eNULL:!aNULL", "tls", 1, 0],
  ["tls_preempt_cipherlist", "bool", "no", "tls"],
  ["tls_random_bytes", "int", "32", "tlsmgr", 1, 0],
  ["tls_random_exchange_name", "str", "${data_directory}/prng_exch", "tlsmgr"],
  ["tls_random_prng_update_period", "time", "3600s", "tlsmgr", 1, 0],
  ["tls_random_reseed_period", "time", "3600s", "tlsmgr", 1, 0],
  ["tls_random_source", "str", "dev:/dev/urandom", "tlsmgr"],
  ["tls_server_sni_maps", "str", "", "tls"],
  ["tls_session_ticket_cipher", "str", "aes-256-cbc", "tls"],
  ["tls_ssl_options", "str", "", "tls"],
  ["tls_wildcard_matches_multiple_labels", "bool", "yes", "tls"],
  ["tlsmgr_service_name", "str", "tlsmgr", "tls", 1, 0],
  ["tlsproxy_client_CAfile", "str", "$smtp_tls_CAfile", "tlsproxy"],
  ["tlsproxy_client_CApath", "str", "$smtp_tls_CApath", "tlsproxy"],
  ["tlsproxy_client_cert_file", "str", "$smtp_tls_cert_file", "tlsproxy"],
  ["tlsproxy_client_chain_files", "str", "$smtp_tls_chain_files", "tlsproxy"],
  ["tlsproxy_client_dcert_file", "str", "$smtp_tls_dcert_file", "tlsproxy"],
  ["tlsproxy_client_dkey_file", "str", "$smtp_tls_dkey_file", "tlsproxy"],
  ["tlsproxy_client_eccert_file", "str", "$smtp_tls_eccert_file", "tlsproxy"],
  ["tlsproxy_client_eckey_file", "str", "$smtp_tls_eckey_file", "tlsproxy"],
  ["tlsproxy_client_enforce_tls", "nbool", "$smtp_enforce_tls", "tlsproxy"],
  ["tlsproxy_client_fingerprint_digest", "str", "$smtp_tls_fingerprint_digest", "tlsproxy", 1, 0],
  ["tlsproxy_client_key_file", "str", "$smtp_tls_key_file", "tlsproxy"],
  ["tlsproxy_client_loglevel", "str", "$smtp_tls_loglevel", "tlsproxy"],
  ["tlsproxy_client_loglevel_parameter", "str", "smtp_tls_loglevel", "tlsproxy"],
  ["tlsproxy_client_per_site", "str", "$smtp_tls_per_site", "tlsproxy"],
  ["tlsproxy_client_policy_maps", "str", "${tlsproxy_client_policy:$smtp_tls_policy_maps}", "tlsproxy"],
  ["tlsproxy_client_scert_verifydepth", "nint", "$smtp_tls_scert_verifydepth", "tlsproxy"],
  ["tlsproxy_client_security_level", "str", "${tlsproxy_client_level:$smtp_tls_security_level}", "tlsproxy"],
  ["tlsproxy_client_use_tls", "nbool", "$smtp_use_tls", "tlsproxy"],
  ["tlsproxy_enforce_tls", "nbool", "$smtpd_enforce_tls", "tlsproxy"],
  ["tlsproxy_service_name", "str", "tlsproxy", "postscreen smtp smtpd", 1, 0],
  ["tlsproxy_tls_CAfile", "str", "$smtpd_tls_CAfile", "tlsproxy"],
  ["tlsproxy_tls_CApath", "str", "$smtpd_tls_CApath", "tlsproxy"],
  ["tlsproxy_tls_always_issue_session_ids", "nbool", "$smtpd_tls_always_issue_session_ids", "tlsproxy"],
  ["tlsproxy_tls_ask_ccert", "nbool", "$smtpd_tls_ask_ccert", "tlsproxy"],
  ["tlsproxy_tls_ccert_verifydepth", "nint", "$smtpd_tls_ccert_verifydepth", "tlsproxy"],
  ["tlsproxy_tls_cert_file", "str", "$smtpd_tls_cert_file", "tlsproxy"],
  ["tlsproxy_tls_chain_files", "str", "$smtpd_tls_chain_files", "tlsproxy"],
  ["tlsproxy_tls_ciphers", "str", "$smtpd_tls_ciphers", "tlsproxy", 1, 0],
  ["tlsproxy_tls_dcert_file", "str", "$smtpd_tls_dcert_file", "tlsproxy"],
  ["tlsproxy_tls_dh1024_param_file", "str", "$smtpd_tls_dh1024_param_file", "tlsproxy"],
  ["tlsproxy_tls_dh512_param_file", "str", "$smtpd_tls_dh512_param_file", "tlsproxy"],
  ["tlsproxy_tls_dkey_file", "str", "$smtpd_tls_dkey_file", "tlsproxy"],
  ["tlsproxy_tls_eccert_file", "str", "$smtpd_tls_eccert_file", "tlsproxy"],
  ["tlsproxy_tls_eckey_file", "str", "$smtpd_tls_eckey_file", "tlsproxy"],
  ["tlsproxy_tls_eecdh_grade", "str", "$smtpd_tls_eecdh_grade", "tlsproxy", 1, 0],
  ["tlsproxy_tls_exclude_ciphers", "str", "$smtpd_tls_exclude_ciphers", "tlsproxy"],
  ["tlsproxy_tls_fingerprint_digest", "str", "$smtpd_tls_fingerprint_digest", "tlsproxy", 1, 0],
  ["tlsproxy_tls_key_file", "str", "$smtpd_tls_key_file", "tlsproxy"],
  ["tlsproxy_tls_loglevel", "str", "$smtpd_tls_loglevel", "tlsproxy"],
  ["tlsproxy_tls_mandatory_ciphers", "str", "$smtpd_tls_mandatory_ciphers", "tlsproxy", 1, 0],
  ["tlsproxy_tls_mandatory_exclude_ciphers", "str", "$smtpd_tls_mandatory_exclude_ciphers", "tlsproxy"],
  ["tlsproxy_tls_mandatory_protocols", "str", "$smtpd_tls_mandatory_protocols", "tlsproxy"],
  ["tlsproxy_tls_protocols", "str", "$smtpd_tls_protocols", "tlsproxy"],
  ["tlsproxy_tls_req_ccert", "nbool", "$smtpd_tls_req_ccert", "tlsproxy"],
  ["tlsproxy_tls_security_level", "str", "$smtpd_tls_security_level", "tlsproxy"],
  ["tlsproxy_use_tls", "nbool", "$smtpd_use_tls", "tlsproxy"],
  ["tlsproxy_watchdog_timeout", "time", "10s", "tlsproxy", 10, 0],
  ["trace_service_name", "str", "trace", "global", 1, 0],
  ["transport_maps", "str", "", "proxymap trivial-rewrite"],
  ["transport_retry_time", "time", "60s", "oqmgr qmgr", 1, 0],
  ["trigger_timeout", "time", "10s", "global", 1, 0],
  ["undisclosed_recipients_header", "str", "", "cleanup"],
  ["unknown_address_reject_code", "int", "450", "smtpd"],
  ["unknown_address_tempfail_action", "str", "$reject_tempfail_action", "smtpd", 1, 0],
  ["unknown_client_reject_code", "int", "450", "smtpd"],
  ["unknown_helo_hostname_tempfail_action", "str", "$reject_tempfail_action", "smtpd", 1, 0],
  ["unknown_hostname_reject_code", "int", "450", "smtpd"],
  ["unknown_local_recipient_reject_code", "int", "550", "smtpd"],
  ["unknown_relay_recipient_reject_code", "int", "550", "smtpd"],
  ["unknown_virtual_alias_reject_code", "int", "550", "smtpd"],
  ["unknown_virtual_mailbox_reject_code", "int", "550", "smtpd"],
  ["unverified_recipient_defer_code", "int", "450", "smtpd", 200, 499],
  ["unverified_recipient_reject_code", "int", "450", "smtpd", 200, 599],
  ["unverified_recipient_reject_reason", "str", "", "smtpd"],
  ["unverified_recipient_tempfail_action", "str", "$reject_tempfail_action", "smtpd", 1, 0],
  ["unverified_sender_defer_code", "int", "450", "smtpd", 200, 499],
  ["unverified_sender_reject_code", "int", "450", "smtpd", 200, 599],
  ["unverified_sender_reject_reason", "str", "", "smtpd"],
  ["unverified_sender_tempfail_action", "str", "$reject_tempfail_action", "smtpd", 1, 0],
  ["verp_delimiter_filter", "str", "-=+", "global", 1, 0],
  ["virtual_alias_address_length_limit", "int", "1000", "cleanup", 1, 0],
  ["virtual_alias_domains", "str", "$virtual_alias_maps", "proxymap trivial-rewrite"],
  ["virtual_alias_expansion_limit", "int", "1000", "cleanup", 1, 0],
  ["virtual_alias_maps", "str", "$virtual_maps", "cleanup proxymap smtpd trivial-rewrite"],
  ["virtual_alias_recursion_limit", "int", "1000", "cleanup", 1, 0],
  ["virtual_delivery_status_filter", "str", "$default_delivery_status_filter", "virtual"],
  ["virtual_gid_maps", "str", "", "virtual"],
  ["virtual_mailbox_base", "str", "", "virtual", 1, 0],
  ["virtual_mailbox_domains", "str", "$virtual_mailbox_maps", "proxymap trivial-rewrite"],
  ["virtual_mailbox_limit", "long", "51200000", "virtual"],
  ["virtual_mailbox_lock", "str", "fcntl, dotlock", "virtual", 1, 0],
  ["virtual_mailbox_maps", "str", "", "proxymap smtpd trivial-rewrite virtual"],
  ["virtual_minimum_uid", "int", "100", "virtual", 1, 0],
  ["virtual_transport", "str", "virtual", "trivial-rewrite", 1, 0],
  ["virtual_uid_maps", "str", "", "virtual"],
];

/** Names Postfix still recognizes for compatibility; known, but not printed by postconf -d. */
const LEGACY = [
  'virtual_maps',
  'fallback_relay',
  'authorized_verp_clients',
  'smtpd_client_connection_limit_exceptions',
  'postscreen_dnsbl_ttl',
  'postscreen_blacklist_action',
  'postscreen_dnsbl_whitelist_threshold',
  'postscreen_whitelist_interfaces',
  'lmtp_per_record_deadline',
  'smtp_per_record_deadline',
  'smtpd_per_record_deadline',
  'tlsproxy_client_level',
  'tlsproxy_client_policy',
];

/** DEF_MYDOMAIN: the domain used when the host name is not fully qualified. */
export const DEF_MYDOMAIN = 'localdomain';

/** Defaults that differ from the Debian-built oracle by design (see the header comment). */
const DEFAULT_OVERRIDES: Record<string, string> = {
  default_database_type: 'lmdb',
  alias_database: 'lmdb:/etc/aliases',
  alias_maps: 'lmdb:/etc/aliases',
  config_directory: dirs.config_directory,
  command_directory: dirs.command_directory,
  daemon_directory: dirs.daemon_directory,
  data_directory: dirs.data_directory,
  queue_directory: dirs.queue_directory,
  meta_directory: dirs.meta_directory,
  shlib_directory: dirs.shlib_directory,
  sendmail_path: dirs.sendmail_path,
  newaliases_path: dirs.newaliases_path,
  mailq_path: dirs.mailq_path,
  html_directory: dirs.html_directory,
  manpage_directory: dirs.manpage_directory,
  readme_directory: dirs.readme_directory,
  sample_directory: dirs.sample_directory,
  mail_owner: dirs.mail_owner,
  setgid_group: dirs.setgid_group,
  mail_spool_directory: dirs.mail_spool_directory,
  process_name: 'postfix',
  process_id: String(process.pid),
};

/** timeUnitOf - the unit letter of a literal time default ("100s" -> s); undefined when it must be evaluated. */
function timeUnitOf(def: string): ParamDef['unit'] {
  if (def.includes('$')) return undefined;
  const m = /[a-z]/i.exec(def);
  return m ? (m[0] as ParamDef['unit']) : undefined;
}

/** The registry, sorted by name. */
export const PARAMS: ParamDef[] = ROWS.map(([name, type, def, users, min, max]) => {
  const p: ParamDef = { name, type, def: DEFAULT_OVERRIDES[name] ?? def, users };
  if (min !== undefined) p.min = min;
  if (max !== undefined) p.max = max;
  if (type === 'time') p.unit = timeUnitOf(p.def);
  return p;
});

const byName = new Map<string, ParamDef>(PARAMS.map((p) => [p.name, p]));

for (const name of ['process_name', 'process_id', 'service_name']) byName.get(name)!.readonly = true;
byName.get('myhostname')!.fn = (_ev, explicit) => defaultHostname(explicit);
byName.get('mydomain')!.fn = (ev) => defaultDomain(ev);
byName.get('mynetworks')!.fn = (ev) => defaultMynetworks(ev);

/** LEGACY_PARAMS - legacy entries (type str, empty default). */
export const LEGACY_PARAMS: ParamDef[] = LEGACY.map((name) => ({ name, type: 'str', def: '', legacy: true }));
const legacyByName = new Map<string, ParamDef>(LEGACY_PARAMS.map((p) => [p.name, p]));

/** lookupParam - the registry entry of a name, or undefined for unknown (user-defined) names. */
export function lookupParam(name: string): ParamDef | undefined {
  return byName.get(name) ?? legacyByName.get(name);
}

/** registerParams - add parameters declared by a daemon or a transport-specific pattern. */
export function registerParams(defs: ParamDef[]): void {
  for (const d of defs) {
    if (!byName.has(d.name)) {
      PARAMS.push(d);
      byName.set(d.name, d);
    }
  }
}

/* ------------------------------------------------------------------ */
/* Machine-dependent defaults (Postfix get_hostname(), mynetworks()).   */

/** defaultHostname - the host name; when it has no dot, ".$mydomain" (or .localdomain) is appended. */
export function defaultHostname(explicit: ParamExplicit, host: string = hostname()): string {
  if (host.includes('.')) return host;
  return `${host}.${explicit('mydomain') ?? DEF_MYDOMAIN}`;
}

/** defaultDomain - the part of $myhostname after the first dot, else "localdomain". */
export function defaultDomain(ev: ParamEval): string {
  const host = ev('myhostname');
  const dot = host.indexOf('.');
  return dot < 0 ? DEF_MYDOMAIN : host.slice(dot + 1);
}

/** An interface address as the mynetworks computation needs it. */
export interface IfAddr {
  address: string;
  netmask: string;
  family: 'IPv4' | 'IPv6';
}

/** localAddresses - every interface address of this machine, IPv4 first, in interface order. */
export function localAddresses(): IfAddr[] {
  const v4: IfAddr[] = [];
  const v6: IfAddr[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const entry: IfAddr = { address: a.address, netmask: a.netmask, family: a.family === 'IPv4' ? 'IPv4' : 'IPv6' };
      (entry.family === 'IPv4' ? v4 : v6).push(entry);
    }
  }
  return [...v4, ...v6];
}

/**
 * defaultMynetworks - Postfix mynetworks(): the networks of the addresses in
 * $inet_interfaces (all interfaces for "all"), per $mynetworks_style (host,
 * subnet, class) and limited to $inet_protocols.
 */
export function defaultMynetworks(ev: ParamEval, addrs: IfAddr[] = localAddresses()): string {
  const style = ev('mynetworks_style').trim().toLowerCase();
  const protocols = ev('inet_protocols').toLowerCase().split(/[\s,]+/).filter(Boolean);
  const wantV4 = protocols.includes('all') || protocols.includes('ipv4');
  const wantV6 = protocols.includes('all') || protocols.includes('ipv6');
  const ifaces = ev('inet_interfaces').toLowerCase().split(/[\s,]+/).filter(Boolean);
  let chosen = addrs;
  if (!ifaces.includes('all')) {
    const wanted = new Set<string>();
    for (const i of ifaces) {
      if (i === 'loopback-only') {
        wanted.add('127.0.0.1');
        wanted.add('::1');
      } else if (i === 'localhost') {
        wanted.add('127.0.0.1');
        wanted.add('::1');
      } else {
        wanted.add(canonicalAddress(i.replace(/^\[|\]$/g, '')));
      }
    }
    chosen = addrs.filter((a) => wanted.has(canonicalAddress(a.address)));
  }
  const out: string[] = [];
  for (const a of chosen) {
    if (a.family === 'IPv4' ? !wantV4 : !wantV6) continue;
    const net = a.family === 'IPv4' ? v4Network(a, style) : v6Network(a, style);
    if (!out.includes(net)) out.push(net);
  }
  return out.join(' ');
}

function v4ToInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function intToV4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

function maskBits(mask: number[], bitsPerPart: number): number {
  let bits = 0;
  for (const part of mask) {
    for (let b = bitsPerPart - 1; b >= 0; b--) {
      if (part & (1 << b)) bits++;
      else return bits;
    }
  }
  return bits;
}

function v4Network(a: IfAddr, style: string): string {
  const addr = v4ToInt(a.address);
  let bits: number;
  if (style === 'host') bits = 32;
  else if (style === 'class') {
    const first = addr >>> 24;
    bits = first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 32;
  } else bits = maskBits(a.netmask.split('.').map(Number), 8);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return `${intToV4((addr & mask) >>> 0)}/${bits}`;
}

/** expandV6 - eight 16-bit groups of an IPv6 address. */
function expandV6(a: string): number[] {
  const [addr] = a.split('%');
  let head = addr;
  let tail = '';
  const dbl = addr.indexOf('::');
  if (dbl >= 0) {
    head = addr.slice(0, dbl);
    tail = addr.slice(dbl + 2);
  }
  const conv = (s: string): number[] => {
    if (!s) return [];
    const parts: number[] = [];
    for (const p of s.split(':')) {
      if (p.includes('.')) {
        const v = v4ToInt(p);
        parts.push(Math.floor(v / 65536), v % 65536);
      } else parts.push(parseInt(p, 16));
    }
    return parts;
  };
  const h = conv(head);
  const t = conv(tail);
  const fill = dbl >= 0 ? new Array<number>(8 - h.length - t.length).fill(0) : [];
  return [...h, ...fill, ...t];
}

/** formatV6 - RFC 5952 text of eight groups (as inet_ntop prints it). */
function formatV6(g: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((n) => n.toString(16));
  if (best < 0) return hex.join(':');
  return hex.slice(0, best).join(':') + '::' + hex.slice(best + bestLen).join(':');
}

/** canonicalAddress - one spelling per address (IPv6 compressed, lower case). */
export function canonicalAddress(a: string): string {
  if (!a.includes(':')) return a;
  try {
    return formatV6(expandV6(a.toLowerCase()));
  } catch {
    return a.toLowerCase();
  }
}

function v6Network(a: IfAddr, style: string): string {
  const g = expandV6(a.address.toLowerCase());
  const bits = style === 'host' ? 128 : maskBits(expandV6(a.netmask), 16);
  const net = g.map((part, idx) => {
    const keep = Math.max(0, Math.min(16, bits - idx * 16));
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
    return part & mask;
  });
  return `[${formatV6(net)}]/${bits}`;
}

/* ------------------------------------------------------------------ */
/* Service-dependent parameters (Postfix postconf_service.c): master.cf  */
/* services that run a delivery agent get <service>_<suffix> names.       */

/** Per-transport suffixes and the global parameter each defaults to. */
const TRANSPORT_SUFFIXES: Array<[string, string]> = [
  ['_recipient_limit', 'default_recipient_limit'],
  ['_extra_recipient_limit', 'default_extra_recipient_limit'],
  ['_recipient_refill_limit', 'default_recipient_refill_limit'],
  ['_recipient_refill_delay', 'default_recipient_refill_delay'],
  ['_delivery_slot_cost', 'default_delivery_slot_cost'],
  ['_delivery_slot_loan', 'default_delivery_slot_loan'],
  ['_delivery_slot_discount', 'default_delivery_slot_discount'],
  ['_minimum_delivery_slots', 'default_minimum_delivery_slots'],
  ['_initial_destination_concurrency', 'initial_destination_concurrency'],
  ['_destination_concurrency_limit', 'default_destination_concurrency_limit'],
  ['_destination_recipient_limit', 'default_destination_recipient_limit'],
  ['_destination_concurrency_positive_feedback', 'default_destination_concurrency_positive_feedback'],
  ['_destination_concurrency_negative_feedback', 'default_destination_concurrency_negative_feedback'],
  ['_destination_concurrency_failed_cohort_limit', 'default_destination_concurrency_failed_cohort_limit'],
  ['_destination_rate_delay', 'default_destination_rate_delay'],
  ['_transport_rate_delay', 'default_transport_rate_delay'],
];
const TIME_LIMIT: [string, string] = ['_time_limit', 'command_time_limit'];

/** SERVICE_PARAM_SUFFIXES - by program name: the suffixes and their default parameters. */
export const SERVICE_PARAM_SUFFIXES: Record<string, Array<[string, string]>> = {
  local: TRANSPORT_SUFFIXES,
  error: TRANSPORT_SUFFIXES,
  virtual: TRANSPORT_SUFFIXES,
  smtp: TRANSPORT_SUFFIXES,
  lmtp: TRANSPORT_SUFFIXES,
  pipe: [TIME_LIMIT, ...TRANSPORT_SUFFIXES],
  spawn: [TIME_LIMIT],
};

/**
 * serviceParams - the service-dependent parameters of one master.cf service
 * (name, and the command field), each defaulting to "$global_name", with
 * the type and limits of that global parameter. Names that are built in
 * (local_destination_concurrency_limit ...) keep their own definition.
 */
export function serviceParams(service: string, command: string): ParamDef[] {
  const out: ParamDef[] = [];
  for (const [suffix, global] of SERVICE_PARAM_SUFFIXES[command] ?? []) {
    const name = service + suffix;
    const builtin = byName.get(name);
    if (builtin) {
      out.push(builtin);
      continue;
    }
    const g = byName.get(global);
    const p: ParamDef = { name, type: g?.type ?? 'str', def: `$${global}`, users: 'qmgr' };
    if (g?.min !== undefined) p.min = g.min;
    if (g?.max !== undefined) p.max = g.max;
    if (g?.unit) p.unit = g.unit;
    out.push(p);
  }
  return out;
}

/** registerServiceParams - make a service's per-transport names known (qmgr, pipe, postconf). */
export function registerServiceParams(service: string, command: string): void {
  registerParams(serviceParams(service, command).filter((p) => !byName.has(p.name)));
}
