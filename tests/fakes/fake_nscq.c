/*
 * A fake libnvidia-nscq for tests: the NSCQ entry points the Cairn agent's NVSwitch provider
 * calls, with the declarations NVIDIA publishes for attestation (nvtrust
 * guest_tools/attestation_sdk/.../nscq/nscq_attestation.h, NSCQ API 2.0.0): results and
 * callbacks as there, the report and certificate structures passed to callbacks by value.
 * It answers from files in $FAKE_NSCQ_DIR:
 *
 *   count           number of NVSwitches (decimal)
 *   tnvl<i>         switch i's TNVL status for /config/pcie_mode (decimal; absent: -1)
 *   report<i>.bin   switch i's attestation report (returned whatever nonce was set)
 *   chain<i>.pem    switch i's attestation certificate chain (PEM)
 *   report_size     if present: the report_size every report answer states (bounds tests)
 *   label           if present: the label nscq_uuid_to_label gives every switch
 *   fail_<name>     if present: function <name> returns the NSCQ code the file holds
 *   cbfail_<leaf>   if present: callbacks for paths ending in <leaf> (uuid, pcie_mode,
 *                   certificate, attestation_report) get that code and no value
 *
 * and writing what the caller did: nonce<i>.bin (the nonce set when switch i's report was
 * observed). Switch i's UUID is 16 bytes of value 0xA0 + i; its label "SWX-<32 hex digits>".
 * It signs nothing: the reports are made by the test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int8_t nscq_rc_t;
typedef struct nscq_session_st *nscq_session_t;
typedef void (*nscq_fn_t)(void);

#define NSCQ_RC_SUCCESS (0)
#define NSCQ_RC_ERROR_NOT_IMPLEMENTED (-1)
#define NSCQ_RC_ERROR_INVALID_UUID (-2)
#define NSCQ_RC_ERROR_OVERFLOW (-4)
#define NSCQ_RC_ERROR_UNSPECIFIED (-128)

typedef struct {
    uint8_t bytes[16];
} nscq_uuid_t;

typedef struct {
    char data[64];
} nscq_label_t;

typedef int8_t nscq_tnvl_status_t;

typedef struct {
    uint32_t report_size;
    uint8_t report[0x2000];
} nscq_attestation_report_t;

typedef struct {
    uint8_t cert_chain[0x1400];
    uint32_t cert_chain_size;
} nscq_attestation_certificate_t;

typedef struct {
    nscq_rc_t rc;
    nscq_session_t session;
} nscq_session_result_t;

typedef void (*uuid_callback)(const nscq_uuid_t *, nscq_rc_t, const nscq_uuid_t *, void *);
typedef void (*mode_callback)(const nscq_uuid_t *, nscq_rc_t, nscq_tnvl_status_t, void *);
typedef void (*certificate_callback)(const nscq_uuid_t *, nscq_rc_t,
                                     nscq_attestation_certificate_t, void *);
typedef void (*report_callback)(const nscq_uuid_t *, nscq_rc_t, nscq_attestation_report_t,
                                void *);

struct nscq_session_st {
    uint8_t nonce[32];
    int nonce_set;
};

static void path_of(char *out, size_t size, const char *name) {
    const char *dir = getenv("FAKE_NSCQ_DIR");
    snprintf(out, size, "%s/%s", dir ? dir : ".", name);
}

static long read_file(const char *name, unsigned char *buffer, size_t size) {
    char path[4096];
    path_of(path, sizeof path, name);
    FILE *file = fopen(path, "rb");
    if (!file) return -1;
    long got = (long)fread(buffer, 1, size, file);
    fclose(file);
    return got;
}

static int write_file(const char *name, const void *data, size_t size) {
    char path[4096];
    path_of(path, sizeof path, name);
    FILE *file = fopen(path, "wb");
    if (!file) return -1;
    fwrite(data, 1, size, file);
    fclose(file);
    return 0;
}

/* The number a file holds; ``fallback`` when it is absent. */
static long number_in(const char *name, long fallback) {
    unsigned char text[32] = {0};
    if (read_file(name, text, sizeof text - 1) < 0) return fallback;
    return strtol((const char *)text, NULL, 10);
}

static nscq_rc_t injected(const char *prefix, const char *what) {
    char name[256];
    snprintf(name, sizeof name, "%s_%s", prefix, what);
    return (nscq_rc_t)number_in(name, NSCQ_RC_SUCCESS);
}

static int switch_count(void) {
    long count = number_in("count", 0);
    return count < 0 ? 0 : (int)count;
}

static nscq_uuid_t uuid_of(int index) {
    nscq_uuid_t uuid;
    memset(uuid.bytes, 0xA0 + index, sizeof uuid.bytes);
    return uuid;
}

static void label_of(const nscq_uuid_t *uuid, char *out, size_t size) {
    int used = snprintf(out, size, "SWX-");
    for (int i = 0; i < 16 && used + 2 < (int)size; i++) {
        used += snprintf(out + used, size - (size_t)used, "%02x", uuid->bytes[i]);
    }
}

nscq_session_result_t nscq_session_create(uint32_t flags) {
    nscq_session_result_t result = {injected("fail", "nscq_session_create"), NULL};
    (void)flags;
    if (result.rc < 0) return result;
    result.session = calloc(1, sizeof *result.session);
    if (!result.session) result.rc = NSCQ_RC_ERROR_UNSPECIFIED;
    return result;
}

void nscq_session_destroy(nscq_session_t session) { free(session); }

nscq_rc_t nscq_uuid_to_label(const nscq_uuid_t *uuid, nscq_label_t *label, uint32_t flags) {
    nscq_rc_t rc = injected("fail", "nscq_uuid_to_label");
    (void)flags;
    if (rc < 0) return rc;
    memset(label->data, 0, sizeof label->data);
    label_of(uuid, label->data, sizeof label->data);
    unsigned char override[sizeof label->data] = {0};
    if (read_file("label", override, sizeof override - 1) >= 0) {
        memcpy(label->data, override, sizeof override);
    }
    return rc;
}

nscq_rc_t nscq_session_set_input(nscq_session_t session, uint32_t flags, void *input,
                                 uint32_t size) {
    nscq_rc_t rc = injected("fail", "nscq_session_set_input");
    (void)flags;
    if (rc < 0) return rc;
    if (size != sizeof session->nonce) return NSCQ_RC_ERROR_OVERFLOW;
    memcpy(session->nonce, input, size);
    session->nonce_set = 1;
    return rc;
}

/* The switch a "/<label>/..." path names, or -1. */
static int switch_named(const char *path, const char **rest) {
    if (path[0] != '/') return -1;
    const char *end = strchr(path + 1, '/');
    if (!end) return -1;
    for (int i = 0; i < switch_count(); i++) {
        char label[64];
        nscq_uuid_t uuid = uuid_of(i);
        label_of(&uuid, label, sizeof label);
        if (strlen(label) == (size_t)(end - path - 1) && !strncmp(label, path + 1, strlen(label))) {
            *rest = end;
            return i;
        }
    }
    return -1;
}

static void answer_report(int index, nscq_session_t session, report_callback callback,
                          void *user) {
    static nscq_attestation_report_t report;
    char name[64];
    nscq_uuid_t uuid = uuid_of(index);
    nscq_rc_t rc = injected("cbfail", "attestation_report");
    memset(&report, 0, sizeof report);
    snprintf(name, sizeof name, "report%d.bin", index);
    long got = read_file(name, report.report, sizeof report.report);
    if (rc >= 0 && got < 0) rc = NSCQ_RC_ERROR_NOT_IMPLEMENTED;
    report.report_size = got < 0 ? 0 : (uint32_t)got;
    report.report_size = (uint32_t)number_in("report_size", (long)report.report_size);
    if (session->nonce_set) {
        snprintf(name, sizeof name, "nonce%d.bin", index);
        write_file(name, session->nonce, sizeof session->nonce);
    }
    callback(&uuid, rc, report, user);
}

static void answer_certificate(int index, certificate_callback callback, void *user) {
    static nscq_attestation_certificate_t certificate;
    char name[64];
    nscq_uuid_t uuid = uuid_of(index);
    nscq_rc_t rc = injected("cbfail", "certificate");
    memset(&certificate, 0, sizeof certificate);
    snprintf(name, sizeof name, "chain%d.pem", index);
    long got = read_file(name, certificate.cert_chain, sizeof certificate.cert_chain);
    if (rc >= 0 && got < 0) rc = NSCQ_RC_ERROR_NOT_IMPLEMENTED;
    certificate.cert_chain_size = got < 0 ? 0 : (uint32_t)got;
    callback(&uuid, rc, certificate, user);
}

nscq_rc_t nscq_session_path_observe(nscq_session_t session, const char *path, nscq_fn_t callback,
                                    void *user, uint32_t flags) {
    nscq_rc_t rc = injected("fail", "nscq_session_path_observe");
    const char *rest = NULL;
    (void)flags;
    if (rc < 0) return rc;
    if (!strcmp(path, "/drv/nvswitch/{device}/uuid")) {
        nscq_rc_t status = injected("cbfail", "uuid");
        for (int i = 0; i < switch_count(); i++) {
            nscq_uuid_t uuid = uuid_of(i);
            ((uuid_callback)callback)(&uuid, status, &uuid, user);
        }
        return rc;
    }
    int index = switch_named(path, &rest);
    if (index < 0) return NSCQ_RC_ERROR_INVALID_UUID;
    nscq_uuid_t uuid = uuid_of(index);
    char name[32];
    if (!strcmp(rest, "/config/pcie_mode")) {
        snprintf(name, sizeof name, "tnvl%d", index);
        ((mode_callback)callback)(&uuid, injected("cbfail", "pcie_mode"),
                                  (nscq_tnvl_status_t)number_in(name, -1), user);
    } else if (!strcmp(rest, "/config/certificate")) {
        answer_certificate(index, (certificate_callback)callback, user);
    } else if (!strcmp(rest, "/config/attestation_report")) {
        answer_report(index, session, (report_callback)callback, user);
    } else {
        return NSCQ_RC_ERROR_NOT_IMPLEMENTED;
    }
    return rc;
}
