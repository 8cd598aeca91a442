# aarch64: 64-bit little-endian Arm, the hosted twin of the bare-metal image.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(AK_CROSS_TRIPLE aarch64-linux-gnu)
set(AK_CROSS_QEMU qemu-aarch64-static)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
