# Shared part of the cross toolchain files: Debian's cross gcc for
# AK_CROSS_TRIPLE, its libc under /usr/<triple>, and qemu-user-static to
# run the test programs (ctest prepends CMAKE_CROSSCOMPILING_EMULATOR).
# Each <target>.cmake sets AK_CROSS_TRIPLE, AK_CROSS_QEMU and the processor.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${AK_CROSS_TRIPLE}-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/${AK_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR ${AK_CROSS_QEMU} -L /usr/${AK_CROSS_TRIPLE})
