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

void cg_init_targets(void) {
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
