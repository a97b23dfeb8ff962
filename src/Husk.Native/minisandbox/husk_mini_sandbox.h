/* husk_mini_sandbox.h: the private calls between libmini-sandbox (mini_sandbox.c) and libhusk.
 *
 * libmini-sandbox keeps only what must outlive a fork in C (the state, the last error, the
 * caller's descriptors and signal dispositions); the configuration, its checks and the sandbox
 * are libhusk's, mapped onto the mini-sandbox personality (src/Husk.Cli/Personalities/MiniSandbox).
 * Not part of husk.h: these may change with libhusk, and libmini-sandbox is built with it.
 * MiniSandboxLibrary.cs has the C# twin of the function numbers; a test checks they agree. */
#ifndef HUSK_MINI_SANDBOX_H
#define HUSK_MINI_SANDBOX_H

#include <stdint.h>

/* The configuration calls, by number (the argument each takes: a, b, n). */
enum {
    HUSK_MS_SETUP_DEFAULT = 1,
    HUSK_MS_SETUP_CUSTOM = 2,         /* a = overlay directory, b = sandbox root */
    HUSK_MS_SETUP_HERMETIC = 3,       /* a = sandbox root */
    HUSK_MS_MOUNT_BIND = 4,           /* a = path */
    HUSK_MS_MOUNT_WRITE = 5,
    HUSK_MS_MOUNT_TMPFS = 6,
    HUSK_MS_MOUNT_OVERLAY = 7,
    HUSK_MS_MOUNT_EMPTY_OUTPUT_FILE = 8,
    HUSK_MS_SET_WORKING_DIR = 9,
    HUSK_MS_MOUNT_PARENTS_WRITE = 10,
    HUSK_MS_ENABLE_LOG = 11,          /* a = log file */
    HUSK_MS_SHARE_NETWORK = 12,
    HUSK_MS_ALLOW_CONNECTIONS = 13,   /* a = rules file */
    HUSK_MS_ALLOW_MAX_CONNECTIONS = 14, /* n */
    HUSK_MS_ALLOW_IPV4 = 15,          /* a = rule */
    HUSK_MS_ALLOW_DOMAIN = 16,
    HUSK_MS_ALLOW_ALL_DOMAINS = 17,
    HUSK_MS_ALLOW_IPV4_SUBNET = 18,
};

/* One configuration call of the library (tapbox: 1 for libmini-tapbox's build). Returns what the
 * mini_sandbox_* function returns; when it recorded an error, *code is its code (negative) and
 * message (NUL-terminated, at most capacity bytes) its text; *code is 0 otherwise. */
int32_t husk_mini_sandbox_call(int32_t tapbox, int32_t function, const char *a, const char *b, int32_t n,
                               int32_t *code, char *message, int32_t capacity);

/* What husk_continue needs, from husk_mini_sandbox_prepare. */
typedef struct husk_mini_sandbox_launch {
    int32_t (*run)(const void *args, int32_t result_fd); /* husk_continue */
    const void *args;                                    /* its husk_spawn_args */
    int32_t result_fd;
    int32_t reserved;
} husk_mini_sandbox_launch;

/* Checks the configuration and prepares the sandbox up to its clone: 0 and *launch filled, or the
 * mini_sandbox_start return value with *code and message as for husk_mini_sandbox_call. */
int32_t husk_mini_sandbox_prepare(int32_t tapbox, husk_mini_sandbox_launch *launch, int32_t *code, char *message, int32_t capacity);

/* After launch->run returned 0 in the caller: waits until the sandbox is set up and has ended.
 * Returns the payload's exit status (0-255), 256 + the signal that killed it, or -1 when the
 * sandbox could not be set up (the payload never ran the caller's code), with message. */
int32_t husk_mini_sandbox_supervise(char *message, int32_t capacity);

#endif
