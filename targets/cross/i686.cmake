# i686: 32-bit x86, where uint64_t is only 4-byte aligned inside structs.
set(CMAKE_SYSTEM_PROCESSOR i686)
set(AK_CROSS_TRIPLE i686-linux-gnu)
set(AK_CROSS_QEMU qemu-i386-static)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
