# s390x: 64-bit big-endian (IBM Z). Catches byte-order assumptions.
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(AK_CROSS_TRIPLE s390x-linux-gnu)
set(AK_CROSS_QEMU qemu-s390x-static)
include(${CMAKE_CURRENT_LIST_DIR}/common.cmake)
