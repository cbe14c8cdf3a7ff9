# Cross-compiling for aarch64 (arm64) Debian 12 with Debian's crossbuild-essential-arm64, against a sysroot made
# from Debian's arm64 packages by scripts/make-sysroot. Used by `./scripts/build --arch arm64`.
# The sysroot: -DLL_SYSROOT=... or the LL_SYSROOT environment variable (default /var/cache/lingualinked/sysroot-arm64).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

if(NOT LL_SYSROOT)
  if(DEFINED ENV{LL_SYSROOT})
    set(LL_SYSROOT "$ENV{LL_SYSROOT}")
  else()
    set(LL_SYSROOT /var/cache/lingualinked/sysroot-arm64)
  endif()
endif()
set(LL_SYSROOT "${LL_SYSROOT}" CACHE PATH "arm64 sysroot (scripts/make-sysroot)")
# try_compile projects see the toolchain file again; pass the sysroot on.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES LL_SYSROOT)
if(NOT EXISTS "${LL_SYSROOT}/usr/lib/aarch64-linux-gnu")
  message(FATAL_ERROR "no arm64 sysroot at ${LL_SYSROOT} (run scripts/make-sysroot)")
endif()

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_SYSROOT "${LL_SYSROOT}")

# Headers and libraries only from the sysroot; programs (protoc etc.) from the host.
set(CMAKE_FIND_ROOT_PATH "${LL_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config: only the sysroot's .pc files, with paths prefixed by the sysroot.
set(ENV{PKG_CONFIG_DIR} "")
set(ENV{PKG_CONFIG_LIBDIR}
    "${LL_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${LL_SYSROOT}/usr/lib/pkgconfig:${LL_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${LL_SYSROOT}")

# The libraries' own dependencies (libtorch -> protobuf, openblas, ...) are resolved at link time inside the sysroot.
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${LL_SYSROOT}/usr/lib/aarch64-linux-gnu -Wl,-rpath-link,${LL_SYSROOT}/usr/lib/aarch64-linux-gnu/openblas-pthread")
set(CMAKE_SHARED_LINKER_FLAGS_INIT "${CMAKE_EXE_LINKER_FLAGS_INIT}")

# Tests that CTest runs on this host go through qemu-user with the sysroot as the library root.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;${LL_SYSROOT})
