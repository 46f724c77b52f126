/* codegen_targets.c - which LLVM targets aaic registers (cg_init_targets).
 *
 * Built twice: into libaai_compiler, where it registers every target of
 * the shared libLLVM, and into a statically linked aaic, where
 * aai_llvm_targets.h (generated from AAI_LLVM_STATIC_TARGETS by
 * compiler/CMakeLists.txt) lists the targets linked in as an X-macro. Naming a target
 * pulls in its whole back end, so a static aaic names only those it
 * ships: registering all of them would link every back end LLVM has, and
 * their start-up constructors cost ~10 ms on every run. */
#include "codegen_llvm.h"

#include <pthread.h>

#include <llvm-c/Support.h>
#include <llvm-c/Target.h>

#ifdef AAI_LLVM_STATIC_TARGETS_HEADER
#include "aai_llvm_targets.h" /* AAI_LLVM_TARGET_LIST */
#endif

#ifdef AAI_LLVM_TARGET_LIST
#define AAI_INIT_TARGET(t)                                                                         \
    LLVMInitialize##t##TargetInfo();                                                               \
    LLVMInitialize##t##Target();                                                                   \
    LLVMInitialize##t##TargetMC();                                                                 \
    LLVMInitialize##t##AsmPrinter();                                                               \
    LLVMInitialize##t##AsmParser();
#endif

/* LLVM's code generator options that have no C API, set once per process
 * (a second parse of the same flag would be an error).
 *
 * -disable-lsr: loop strength reduction rewrites a kernel's indexed
 * addresses into pointer increments; x86 addressing modes take the index
 * as it is, so the kernels ran as fast without it (fashion_cnn's training
 * epoch and the MLP's batch-1 and batch-256 predict, measured side by
 * side, same bits) while it was a sixth of the code generator's time
 * (fashion_resnet: 40 of 240 ms of CPU). */
static void set_codegen_flags(void) {
    const char *argv[] = {"aaic", "-disable-lsr"};
    LLVMParseCommandLineOptions(2, argv, NULL);
}

void cg_init_targets(void) {
    static pthread_once_t flags_once = PTHREAD_ONCE_INIT;
    pthread_once(&flags_once, set_codegen_flags);
#ifdef AAI_LLVM_TARGET_LIST
    AAI_LLVM_TARGET_LIST(AAI_INIT_TARGET)
#else
    LLVMInitializeAllTargetInfos();
    LLVMInitializeAllTargets();
    LLVMInitializeAllTargetMCs();
    LLVMInitializeAllAsmPrinters();
    LLVMInitializeAllAsmParsers();
#endif
}
