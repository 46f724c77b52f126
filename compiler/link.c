/* link.c - run the system linker (see link.h). */
#include "link.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aai_config.h"

extern char **environ;

bool link_self_dir(char *dir, size_t cap) {
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        return false;
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return (size_t)snprintf(dir, cap, "%s", path) < cap;
}

static bool file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool link_find_runtime(char *dir, size_t cap) {
    char self[PATH_MAX];
    if (!link_self_dir(self, sizeof self))
        return false;
    const char *const candidates[] = {"%s/lib", "%s/../lib/aai",
                                      "%s/../lib64/aai"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        char probe[PATH_MAX + 32];
        snprintf(dir, cap, candidates[i], self);
        snprintf(probe, sizeof probe, "%s/libaairt.a", dir);
        if (file_exists(probe))
            return true;
    }
    return false;
}

int link_spawn(char *const argv[]) {
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Splits AAI_LINK_LIBS ("-fuse-ld=lld -lyaml ...") into argv entries. For
 * executables the linker is AAI_EXE_FUSE_LD (compiler/CMakeLists.txt: gold
 * when present, faster to start than lld) in place of its -fuse-ld=;
 * shared libraries keep it (gold would name them after the temporary
 * output file). AAI_EXE_LD_THREADS runs gold on two threads where it
 * takes the option. */
static int add_link_libs(char **argv, int argc, char *buf, size_t cap, bool executable) {
    snprintf(buf, cap, "%s", AAI_LINK_LIBS);
#ifdef AAI_EXE_FUSE_LD
    if (executable) argv[argc++] = (char *)AAI_EXE_FUSE_LD;
#endif
#ifdef AAI_EXE_LD_THREADS
    if (executable) argv[argc++] = (char *)AAI_EXE_LD_THREADS;
#endif
    for (char *tok = strtok(buf, " "); tok; tok = strtok(NULL, " ")) {
#ifdef AAI_EXE_FUSE_LD
        if (executable && strncmp(tok, "-fuse-ld=", 9) == 0)
            continue;
#endif
        argv[argc++] = tok;
    }
    return argc;
}

/* Runs the linker command argv; false with a one-line reason in err. */
static bool run_linker(char *const argv[], char *err, size_t err_cap) {
    int status = link_spawn(argv);
    if (status < 0)
        snprintf(err, err_cap, "could not run the linker '%s': %s", argv[0], strerror(errno));
    else if (status != 0)
        snprintf(err, err_cap, "the linker '%s' failed (exit status %d)", argv[0], status);
    return status == 0;
}

/* cc [-shared] -o TMP OBJECTS... [libaairt_main.a] libaairt.a LIBS, then
 * TMP renamed to `output`: a failed link leaves nothing under that name. */
static bool link_with_runtime(const char *const *objects, int n_objects, const char *output,
                              const char *runtime_dir, bool executable, char *err,
                              size_t err_cap) {
    char tmp[PATH_MAX], main_lib[PATH_MAX], rt_lib[PATH_MAX], libs[512];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", output, (long)getpid());
    snprintf(main_lib, sizeof main_lib, "%s/libaairt_main.a", runtime_dir);
    snprintf(rt_lib, sizeof rt_lib, "%s/libaairt.a", runtime_dir);
    char *argv[LINK_MAX_OBJECTS + 32];
    int argc = 0;
    if (n_objects < 1 || n_objects > LINK_MAX_OBJECTS) {
        snprintf(err, err_cap, "internal error: %d objects to link", n_objects);
        return false;
    }
    argv[argc++] = (char *)AAI_LINKER_DRIVER;
    if (!executable) argv[argc++] = (char *)"-shared";
    argv[argc++] = (char *)"-o";
    argv[argc++] = tmp;
    for (int i = 0; i < n_objects; i++)
        argv[argc++] = (char *)objects[i];
    if (executable) argv[argc++] = main_lib;
    argv[argc++] = rt_lib;
    argc = add_link_libs(argv, argc, libs, sizeof libs, executable);
    argv[argc] = NULL;
    if (!run_linker(argv, err, err_cap)) {
        unlink(tmp);
        return false;
    }
    if (rename(tmp, output) != 0) {
        snprintf(err, err_cap, "cannot write '%s': %s", output, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

bool link_executable(const char *const *objects, int n_objects, const char *output,
                     const char *runtime_dir, char *err, size_t err_cap) {
    return link_with_runtime(objects, n_objects, output, runtime_dir, true, err, err_cap);
}

bool link_shared_library(const char *object, const char *output, const char *runtime_dir,
                         char *err, size_t err_cap) {
    return link_with_runtime(&object, 1, output, runtime_dir, false, err, err_cap);
}

bool link_relocatable(const char *const *objects, int n, const char *output,
                      char *err, size_t err_cap) {
    const char *ld = getenv("AAI_RELOCATABLE_LD");
    if (!ld || !*ld)
        ld = "ld";
    char *argv[LINK_MAX_OBJECTS + 8];
    int argc = 0;
    if (n < 1 || n > LINK_MAX_OBJECTS) {
        snprintf(err, err_cap, "internal error: %d objects to combine", n);
        return false;
    }
    argv[argc++] = (char *)ld;
    argv[argc++] = (char *)"-r";
    argv[argc++] = (char *)"-o";
    argv[argc++] = (char *)output;
    for (int i = 0; i < n; i++)
        argv[argc++] = (char *)objects[i];
    argv[argc] = NULL;
    return run_linker(argv, err, err_cap);
}
