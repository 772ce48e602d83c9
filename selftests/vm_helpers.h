/* SPDX-License-Identifier: MIT */
/*
 * Running a shell script in a qemu VM on Debian 12's 6.1 kernel (soft-dirty,
 * no uffd WP_ASYNC or PAGEMAP_SCAN), for the suites that need that kernel.
 * Defined in test_vm.c; see scripts/vm-run.sh for the guest's contents.
 */
#ifndef FERRY_TEST_VM_HELPERS_H
#define FERRY_TEST_VM_HELPERS_H

/*
 * vm_run - run @script_text with /bin/bash as the only job of a VM whose
 * /bin holds ferry ($FERRY_BIN as /bin/ferry), every workload of
 * $FERRY_BUILD/workloads and a few shell tools, plus @extra (NULL, or more
 * vm-run.sh -f arguments, e.g. "-f /host/path:/guest/path"); put its output
 * (console lines without the kernel's, malloc'd) in @out and return its exit
 * status. Skips the calling test when qemu or the kernel package cannot be
 * had; fails it when the VM did not report an exit status (timeout, panic).
 */
int vm_run(const char *script_text, const char *extra, char **out);

/* vm_kernel_version - the guest kernel's release (uname -r), or NULL before vm_run. */
const char *vm_kernel_version(void);

#endif
