/* husk.h: Husk's C ABI, the shared library libhusk.so.
 *
 * A sandbox is described by a JSON spec and its outcome comes back as a JSON result; both follow
 * the schemas in docs/schema/ (husk-spec.schema.json, husk-result.schema.json). The spec holds
 * husk run's own options, read by the same table, so a spec means exactly what the same command
 * line means and has the same defaults:
 *
 *   { "command": ["/usr/bin/make", "-j4"],
 *     "options": [["--memory", "512M"], ["--time-limit", "10s"], ["--bind", "/src", "/src"]],
 *     "stdin": "null", "stdout": "pipe", "stderr": 2 }
 *
 * "stdin", "stdout" and "stderr" are "inherit" (the default: the caller's 0, 1, 2), "null",
 * "pipe" (husk_start only: husk_stdio hands the caller its end) or a descriptor of the caller.
 * "syscalls" names the system calls a policy callback decides (see husk_policy); "trace_policy":
 * true decides them from ptrace stops instead of seccomp user notification, as libsandbox does:
 * the policy also sees each call's return and each signal delivered to the payload (two stops a
 * call: slower).
 * The result is husk run --report's object: verdict, libsandbox and isolate codes, message,
 * exit_code, signal, times, peak memory, output counts, limits, and layer (the overlay mode's
 * root where writes were kept, or null).
 *
 * Every function is safe to call from any thread, for many sandboxes at once. None may be called
 * from a child the calling process forked after it first called into the library (the .NET
 * runtime inside cannot survive a fork): such calls return HUSK_E_FORKED and do nothing.
 * Use multiprocessing's "spawn" or "forkserver" start methods, or exec a fresh process.
 *
 * Strings are UTF-8 and NUL-terminated. Strings the library returns through char ** belong to
 * the caller (free them with husk_string_free); const char * results belong to the library.
 *
 * The library also exports husk_mini_sandbox_*, private to libmini-sandbox and libmini-tapbox
 * (built with it): they are not part of this ABI. */
#ifndef HUSK_H
#define HUSK_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes; husk_abi() returns the library's. Additions keep the number;
 * a change that breaks callers raises it. */
#define HUSK_ABI_VERSION 1

/* Return codes. */
#define HUSK_OK 0
#define HUSK_RUNNING 1        /* husk_wait: the timeout passed and the sandbox still runs */
#define HUSK_E_INTERNAL (-1)  /* something unexpected; husk_last_error() says what */
#define HUSK_E_SPEC (-2)      /* the spec is not valid; husk_last_error() lists every problem, one per line */
#define HUSK_E_SETUP (-3)     /* the sandbox could not be set up or the command could not run */
#define HUSK_E_FORKED (-4)    /* called from a forked child of the process that loaded the library */
#define HUSK_E_HANDLE (-5)    /* no such handle: never returned, or already freed */
#define HUSK_E_ARGUMENT (-6)  /* a NULL pointer, or an argument out of range */

/* A started sandbox, from husk_start until husk_free. */
typedef int64_t husk_handle;

/* A system call the payload is making, stopped until the policy decides (seccomp user
 * notification; with "trace_policy", ptrace: also the call's return and signals). Read the
 * payload's memory through /proc/PID/mem or process_vm_readv with pid; never trust what a pointer
 * points at: it may change after the decision. */
typedef struct husk_syscall {
    int32_t size;       /* sizeof(husk_syscall) of the library: fields are only ever added at the end */
    int32_t event;      /* HUSK_EVENT_* */
    int32_t pid;        /* the calling thread, in the caller's pid namespace */
    int32_t number;     /* the system call's number on this architecture; HUSK_EVENT_SIGNAL: the signal */
    const char *name;   /* "openat" (a signal: "SIGSEGV"); valid for the life of the process */
    uint64_t args[6];   /* the raw arguments (a signal: zeros) */
    int64_t result;     /* HUSK_EVENT_SYSRET: what the call returned (a negative errno when it failed) */
    int32_t code;       /* HUSK_EVENT_SIGNAL: the signal's si_code (SEGV_MAPERR, SI_USER, SI_TKILL...) */
    int32_t reserved;
} husk_syscall;

#define HUSK_EVENT_SYSCALL 0  /* the call is entering */
#define HUSK_EVENT_SYSRET 1   /* "trace_policy": the call returned; HUSK_KILL kills, anything else goes on */
#define HUSK_EVENT_SIGNAL 2   /* "trace_policy": a signal is about to be delivered; HUSK_ALLOW delivers it, an errno drops it */

#define HUSK_ALLOW 0      /* the call goes ahead */
#define HUSK_KILL (-1)    /* the whole sandbox is killed; the verdict is RestrictedFunction */
/* Any other positive value: the call fails with that errno and the payload goes on. */

/* Called on a thread of the library's, once per stopped call listed in the spec's "syscalls"
 * (["*"]: every system call of the architecture);
 * the payload waits meanwhile, so it must not block for long. The seccomp profile still applies:
 * a call it refuses never reaches the policy. */
typedef int32_t (*husk_policy)(void *context, const husk_syscall *call);

/* The library's version, "0.1.0". */
const char *husk_version(void);

/* HUSK_ABI_VERSION of the header the library was built with. */
int32_t husk_abi(void);

/* The message of the last call that failed on this thread (valid until this thread's next call),
 * or "" when it did not fail. */
const char *husk_last_error(void);

/* Checks a spec without running it: HUSK_OK, or HUSK_E_SPEC with every problem in husk_last_error(). */
int32_t husk_validate(const char *spec_json);

/* Runs a spec to its end and stores the result in *result_json. A sandbox that cannot be set up
 * returns HUSK_E_SETUP and still stores a result (verdict InternalError, the reason as message).
 * "pipe" stdio needs husk_start. policy may be NULL (then "syscalls" must be absent). */
int32_t husk_run(const char *spec_json, husk_policy policy, void *context, char **result_json);

/* Starts a spec and returns once the payload runs. */
int32_t husk_start(const char *spec_json, husk_policy policy, void *context, husk_handle *handle);

/* The pid, in the caller's pid namespace, of the sandbox's first process; or an HUSK_E_* code. */
int32_t husk_pid(husk_handle handle);

/* The caller's end of a "pipe" standard stream (fd 0, 1 or 2), once: the descriptor is then the
 * caller's to read, write and close (close stdin's for end of file). -1 with HUSK_E_ARGUMENT in
 * husk_last_error() when that stream is not a pipe or was taken already. */
int32_t husk_stdio(husk_handle handle, int32_t fd);

/* Waits for the sandbox to end, at most timeout_ms milliseconds (-1: no limit), and stores the
 * result in *result_json; HUSK_RUNNING when it still runs. The result is final: later calls
 * return it again. */
int32_t husk_wait(husk_handle handle, int32_t timeout_ms, char **result_json);

/* Sends a signal to the sandbox (its init forwards it to the payload); SIGKILL kills the whole tree. */
int32_t husk_kill(husk_handle handle, int32_t signal);

/* Releases a handle: a sandbox still running is killed and waited for. */
int32_t husk_free(husk_handle handle);

/* A pool of warm sandboxes (SandboxPool): a template is prepared once per shape of spec (its
 * namespaces, id maps and the read-only part of its tree) and each run is cloned from it, in
 * fresh pid, mount, IPC and UTS namespaces (and network, unless the options say otherwise), with
 * the same policy, limits and result as a cold run. Specs a pool cannot take (the host overlay,
 * a writable root directory, nat, ...) are refused with HUSK_E_SPEC and the reason. */
typedef int64_t husk_pool;

/* Makes a pool. options_json is NULL or an object: {"network_per_run": false} lets the runs share
 * the template's network namespace (loopback only; runs at the same time can then reach each
 * other's loopback sockets). */
int32_t husk_pool_new(const char *options_json, husk_pool *pool);

/* husk_run and husk_start from a pool: the same specs, results and handles. */
int32_t husk_pool_run(husk_pool pool, const char *spec_json, husk_policy policy, void *context, char **result_json);
int32_t husk_pool_start(husk_pool pool, const char *spec_json, husk_policy policy, void *context, husk_handle *handle);

/* Ends a pool: its templates end, and every run still going from it with them. */
int32_t husk_pool_free(husk_pool pool);

/* Frees a string the library returned through a char **. NULL is ignored. */
void husk_string_free(char *text);

#ifdef __cplusplus
}
#endif

#endif
