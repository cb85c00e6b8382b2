{
  "targets": [
    {
      "target_name": "simclr_gloo",
      "sources": ["src/addon.cc", "src/group.cc", "src/tcp_store.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wall", "-Wno-unused-parameter"],
      "libraries": ["-lgloo", "-lpthread"]
    },
    {
      "target_name": "simclr_image",
      "sources": ["src/image/addon.cc", "src/image/kernels.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-ffp-contract=off", "-Wall", "-Wno-unused-parameter"]
    }
  ]
}
