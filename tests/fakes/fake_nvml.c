/*
 * A fake libnvidia-ml for tests: the NVML entry points the Cairn agent's GPU provider calls, with
 * NVML's real structure layouts (nvml.h, r535+), answering from files in $FAKE_NVML_DIR:
 *
 *   count           number of GPUs (decimal)
 *   cc_state        "environment ccFeature devToolsMode" (decimal)
 *   report<i>.bin   GPU i's attestation report (returned whatever nonce was asked)
 *   chain<i>.pem    GPU i's attestation certificate chain (PEM)
 *   fail_<name>     if present: <name> returns the NVML error code the file holds
 *
 * and writing what the caller did: nonce<i>.bin (the nonce GPU i was asked for) and ready
 * (the CC GPUs-ready state last set). It signs nothing: the reports are made by the test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st *nvmlDevice_t;

#define NVML_SUCCESS 0
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_FOUND 6
#define NVML_ERROR_UNKNOWN 999

typedef struct {
    unsigned int environment;
    unsigned int ccFeature;
    unsigned int devToolsMode;
} nvmlConfComputeSystemState_t;

typedef struct {
    unsigned int isCecAttestationReportPresent;
    unsigned int attestationReportSize;
    unsigned int cecAttestationReportSize;
    unsigned char nonce[0x20];
    unsigned char attestationReport[0x2000];
    unsigned char cecAttestationReport[0x1000];
} nvmlConfComputeGpuAttestationReport_t;

typedef struct {
    unsigned int certChainSize;
    unsigned int attestationCertChainSize;
    unsigned char certChain[0x1000];
    unsigned char attestationCertChain[0x1400];
} nvmlConfComputeGpuCertificate_t;

static void path_of(char *out, size_t size, const char *name) {
    const char *dir = getenv("FAKE_NVML_DIR");
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

static nvmlReturn_t injected(const char *function) {
    char name[256];
    unsigned char text[32] = {0};
    snprintf(name, sizeof name, "fail_%s", function);
    if (read_file(name, text, sizeof text - 1) < 0) return NVML_SUCCESS;
    return (nvmlReturn_t)strtol((const char *)text, NULL, 10);
}

static unsigned int device_count(void) {
    unsigned char text[32] = {0};
    if (read_file("count", text, sizeof text - 1) < 0) return 0;
    return (unsigned int)strtoul((const char *)text, NULL, 10);
}

static int index_of(nvmlDevice_t device) {
    uintptr_t value = (uintptr_t)device;
    if (value < 0x1000 || value >= 0x1000 + device_count()) return -1;
    return (int)(value - 0x1000);
}

const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case 3: return "Not Supported";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case 9: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlInit_v2(void) { return injected("nvmlInit_v2"); }
nvmlReturn_t nvmlShutdown(void) { return NVML_SUCCESS; }

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!count) return NVML_ERROR_INVALID_ARGUMENT;
    *count = device_count();
    return injected("nvmlDeviceGetCount_v2");
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if (!device || index >= device_count()) return NVML_ERROR_INVALID_ARGUMENT;
    *device = (nvmlDevice_t)(uintptr_t)(0x1000 + index);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetConfComputeState(nvmlConfComputeSystemState_t *state) {
    unsigned char text[64] = {0};
    if (!state) return NVML_ERROR_INVALID_ARGUMENT;
    if (read_file("cc_state", text, sizeof text - 1) < 0) return NVML_ERROR_UNKNOWN;
    if (sscanf((const char *)text, "%u %u %u", &state->environment, &state->ccFeature,
               &state->devToolsMode) != 3)
        return NVML_ERROR_UNKNOWN;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetConfComputeGpuAttestationReport(
    nvmlDevice_t device, nvmlConfComputeGpuAttestationReport_t *report) {
    char name[64];
    int index = index_of(device);
    if (index < 0 || !report) return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(name, sizeof name, "nonce%d.bin", index);
    write_file(name, report->nonce, sizeof report->nonce);
    snprintf(name, sizeof name, "report%d.bin", index);
    long size = read_file(name, report->attestationReport, sizeof report->attestationReport);
    if (size < 0) return NVML_ERROR_NOT_FOUND;
    report->attestationReportSize = (unsigned int)size;
    report->isCecAttestationReportPresent = 0;
    report->cecAttestationReportSize = 0;
    return injected("nvmlDeviceGetConfComputeGpuAttestationReport");
}

nvmlReturn_t nvmlDeviceGetConfComputeGpuCertificate(nvmlDevice_t device,
                                                    nvmlConfComputeGpuCertificate_t *cert) {
    char name[64];
    int index = index_of(device);
    if (index < 0 || !cert) return NVML_ERROR_INVALID_ARGUMENT;
    snprintf(name, sizeof name, "chain%d.pem", index);
    long size = read_file(name, cert->attestationCertChain, sizeof cert->attestationCertChain);
    if (size < 0) return NVML_ERROR_NOT_FOUND;
    cert->attestationCertChainSize = (unsigned int)size;
    cert->certChainSize = 0;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemGetConfComputeGpusReadyState(unsigned int *accepting) {
    unsigned char text[8] = {0};
    if (!accepting) return NVML_ERROR_INVALID_ARGUMENT;
    *accepting = read_file("ready", text, sizeof text - 1) > 0 && text[0] == '1';
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlSystemSetConfComputeGpusReadyState(unsigned int accepting) {
    return write_file("ready", accepting ? "1" : "0", 1) == 0 ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}
