/* linux-sandbox-api.h: Husk's libmini-sandbox and libmini-tapbox, drop-ins for mini-sandbox's
 * libraries (qualcomm/mini-sandbox at 68c2571), with the same functions, return values and
 * error codes. Link with -lmini-sandbox (or -lmini-tapbox, built with MINITAP defined); both
 * need libhusk.so beside them.
 *
 * A program configures the sandbox with the mini_sandbox_setup_* and mount functions, then calls
 * mini_sandbox_start(): from then on the program itself runs inside the sandbox (in a copy of
 * the process: getpid() changes, descriptors, memory and signal handlers stay), and the process
 * that called it waits and exits with the program's status. Every function returns 0, or a
 * negative value with the reason in mini_sandbox_get_last_error_code() and _msg(). When the
 * sandbox cannot be set up, mini_sandbox_start() returns -1 in the original process, which goes
 * on outside any sandbox. See docs/compat-mini-sandbox.md for what differs from mini-sandbox. */
#ifndef HUSK_LINUX_SANDBOX_API_H
#define HUSK_LINUX_SANDBOX_API_H

#ifdef __cplusplus
extern "C" {
#endif

/* mini_sandbox_get_last_error_code()'s values (mini-sandbox's error-handling.h). */
enum mini_sandbox_error {
    MINI_SANDBOX_NOERROR = 0,
    MINI_SANDBOX_INVALID_FUNCTIONING_MODE = -1,   /* two of default, custom (overlay) and hermetic */
    MINI_SANDBOX_SANDBOX_ROOT_NOT_UNIQUE = -2,
    MINI_SANDBOX_INVALID_FOLDER = -3,             /* a directory that cannot be made */
    MINI_SANDBOX_OVERLAY_OPTION_NOT_SET = -4,     /* an overlay without the default or custom mode */
    MINI_SANDBOX_PATH_DOES_NOT_EXIST = -5,
    MINI_SANDBOX_NOT_AN_ABSOLUTE_PATH = -6,
    MINI_SANDBOX_LOG_FILE_NOT_UNIQUE = -7,
    MINI_SANDBOX_ILLEGAL_CONFIGURATION = -8,      /* the overlays' directory or root inside a writable one */
    MINI_SANDBOX_FILE_READ_AND_WRITE = -9,        /* one path mounted read-only and writable */
    MINI_SANDBOX_ILLEGAL_NETWORK_CONFIGURATION = -10,
    MINI_SANDBOX_TMP_NOT_MOUNTED = -11,           /* /tmp given to a mount in the default mode */
    MINI_SANDBOX_GENERAL_OS_ERROR = -100,         /* a system call failed, or the sandbox could not be set up */
    MINI_SANDBOX_NESTED_SANDBOX = -201,           /* started inside a sandbox already */
    MINI_SANDBOX_SANDBOX_ALREADY_STARTED = -202,  /* started (or failed to start) already */
    MINI_SANDBOX_UNKNOWN = -1000,
};

/* The layout: the host's directories read-only under a new root, the working directory's tree
 * overlaid (its writes vanish), the working directory and /tmp writable, an empty home, no
 * network but loopback (default); a new root of only the overlays and mounts named, the
 * overlays' upper layers under overlayfs_dir (custom); a new root of only the mounts named
 * (hermetic). Without any of them, the host's tree read-only but the working directory and /tmp. */
int mini_sandbox_setup_default(void);
int mini_sandbox_setup_custom(const char *overlayfs_dir, const char *sandbox_root);
int mini_sandbox_setup_hermetic(const char *sandbox_root);

/* Starts the sandbox; returns 0 inside it (see above). */
int mini_sandbox_start(void);

/* Paths in the sandbox: bound read-only, bound writable, an empty tmpfs, overlaid (writes vanish;
 * default and custom modes), a file created empty when missing and bound writable; the working
 * directory (default: the caller's); the working directory's tree writable instead of overlaid. */
int mini_sandbox_mount_bind(const char *path);
int mini_sandbox_mount_write(const char *path);
int mini_sandbox_mount_tmpfs(const char *path);
int mini_sandbox_mount_overlay(const char *path);
int mini_sandbox_mount_empty_output_file(const char *path);
int mini_sandbox_set_working_dir(const char *path);
int mini_sandbox_mount_parents_write(void);

/* Husk's debug log goes to this file (its directory must exist). */
int mini_sandbox_enable_log(const char *path);

int mini_sandbox_get_last_error_code(void);
const char *mini_sandbox_get_last_error_msg(void);

/* 1 inside a sandbox (started here, or inherited from a parent), or after a failed start; else 0. */
int mini_sandbox_is_running(void);

#ifndef MINITAP
/* The host's network instead of loopback only. */
int mini_sandbox_share_network(void);
#else
/* libmini-tapbox: the network goes through Husk's egress allowlist. No rule: everything (but the
 * host's own, private and loopback addresses) is reachable. Rules: only the addresses, subnets and
 * names listed (exactly those names), and DNS only for them; a file holds one rule a line. A
 * budget of connections replaces the rules. allow_all_domains is refused after a rule, and a rule
 * after it. */
int mini_sandbox_allow_connections(const char *path);
int mini_sandbox_allow_max_connections(int max_connections);
int mini_sandbox_allow_ipv4(const char *ip);
int mini_sandbox_allow_domain(const char *domain);
int mini_sandbox_allow_all_domains(void);
int mini_sandbox_allow_ipv4_subnet(const char *subnet);
#endif

#ifdef __cplusplus
}
#endif

#endif
