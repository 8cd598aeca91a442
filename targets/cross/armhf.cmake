# armhf: 32-bit ARMv7 (hard float): size_t and pointers are 32 bits.
set(CMAKE_SYSTEM_PROCESSOR arm)
set(AK_CROSS_TRIPLE arm-linux-gnueabihf)
set(AK_CROSS_QEMU qemu-arm-static)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
