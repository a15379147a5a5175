#!/usr/bin/env bash
# Compile check of the app's Kotlin without the Android SDK (see README.md beside this file):
#   1. javac: the declaration stubs in stubs/ (the Android, AndroidX, CameraX and LiteRT API the app
#      uses, written from the published API signatures) and the core module;
#   2. aapt, where installed with Debian's android-framework-res: links the manifest and resources
#      against Android's framework resources (plus res-stubs/, the two library resources they name)
#      and writes R.java; without aapt, r_java.py writes R.java from the resource files unlinked;
#   3. kotlinc (the version the app declares, 2.0.21) with -Werror: every .kt file of the app.
#
# usage: compile-check/check.sh [APP_MAIN_DIR]      (default: android_demo/app/src/main)
# KOTLINC=/path/to/kotlinc overrides the compiler; COMPILE_CHECK_OUT=DIR keeps the build there.
# Exit status: 0 compiled; 1 a compile or link error (printed); 77 a tool is missing (printed, nothing checked).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DEMO=$(dirname "$HERE")
ROOT=$(dirname "$DEMO")
MAIN=${1:-$DEMO/app/src/main}
KOTLIN_VERSION=$(sed -n 's/.*id("org.jetbrains.kotlin.android") version "\([^"]*\)".*/\1/p' "$DEMO/build.gradle.kts")
FRAMEWORK_RES=/usr/share/android-framework-res/framework-res.apk

skip() {
    echo "compile-check: SKIPPED, $1" >&2
    exit 77
}

command -v javac >/dev/null 2>&1 || skip "no JDK (javac). Debian: apt-get install default-jdk-headless"
if [ -z "${KOTLINC:-}" ]; then
    if [ -x "$ROOT/.kotlinc/node_modules/kotlin-compiler/bin/kotlinc" ]; then
        KOTLINC=$ROOT/.kotlinc/node_modules/kotlin-compiler/bin/kotlinc
    elif command -v kotlinc >/dev/null 2>&1; then
        KOTLINC=$(command -v kotlinc)
    else
        skip "no Kotlin compiler: npm install --prefix .kotlinc kotlin-compiler@$KOTLIN_VERSION (in the repository root; .ci/run does this)"
    fi
fi
FOUND=$("$KOTLINC" -version 2>&1 | sed -n 's/.*kotlinc-jvm \([0-9][0-9.]*\).*/\1/p' | head -n 1)
[ "$FOUND" = "$KOTLIN_VERSION" ] || skip "$KOTLINC is Kotlin ${FOUND:-of unknown version}; the app declares $KOTLIN_VERSION (npm install --prefix .kotlinc kotlin-compiler@$KOTLIN_VERSION)"

OUT=${COMPILE_CHECK_OUT:-$(mktemp -d)}
rm -rf "$OUT/stubs" "$OUT/core" "$OUT/gen" "$OUT/r" "$OUT/kotlin"
mkdir -p "$OUT/stubs" "$OUT/core" "$OUT/gen" "$OUT/r" "$OUT/kotlin"

# 1. stubs and core
javac -nowarn --release 11 -d "$OUT/stubs" $(find "$HERE/stubs" -name '*.java') 2>&1 | grep -v '^Note: ' || true
[ -f "$OUT/stubs/android/app/Activity.class" ] || { echo "compile-check: the stubs do not compile" >&2; exit 1; }
javac --release 11 -d "$OUT/core" $(find "$DEMO/core/src/main" -name '*.java')

# 2. resources -> R.java
NAMESPACE=$(sed -n 's/.*namespace = "\([^"]*\)".*/\1/p' "$DEMO/app/build.gradle.kts")
if command -v aapt >/dev/null 2>&1 && [ -f "$FRAMEWORK_RES" ]; then
    # The Android Gradle plugin writes the module's namespace into the merged manifest as its package; so does this.
    sed "0,/<manifest /s//<manifest package=\"$NAMESPACE\" /" "$MAIN/AndroidManifest.xml" >"$OUT/AndroidManifest.xml"
    if ! aapt package -f -m --auto-add-overlay -J "$OUT/gen" -M "$OUT/AndroidManifest.xml" -S "$MAIN/res" -S "$HERE/res-stubs" \
            -I "$FRAMEWORK_RES" >"$OUT/aapt.log" 2>&1; then
        cat "$OUT/aapt.log" >&2
        echo "compile-check: FAILED, aapt could not link the manifest and resources" >&2
        exit 1
    fi
    echo "compile-check: aapt linked AndroidManifest.xml and res/ against $FRAMEWORK_RES"
else
    command -v python3 >/dev/null 2>&1 || skip "neither aapt nor python3 to write R.java"
    python3 "$HERE/r_java.py" "$MAIN/res" "$NAMESPACE" "$OUT/gen/${NAMESPACE//.//}/R.java"
    echo "compile-check: aapt or android-framework-res not installed (Debian: apt-get install aapt android-framework-res):" \
        "R.java written from the resource files, which were not linked"
fi
javac -nowarn --release 11 -d "$OUT/r" $(find "$OUT/gen" -name '*.java')

# 3. the app's Kotlin
SOURCES=$(find "$MAIN/java" -name '*.kt' | sort)
COUNT=$(echo "$SOURCES" | wc -l)
if ! "$KOTLINC" -Werror -jvm-target 11 -cp "$OUT/stubs:$OUT/core:$OUT/r" -d "$OUT/kotlin" $SOURCES; then
    echo "compile-check: FAILED, the app's Kotlin does not compile against the API stubs (kotlinc $FOUND -Werror)" >&2
    exit 1
fi
echo "compile-check: OK, $COUNT Kotlin files compiled with kotlinc $FOUND -Werror against the API stubs and the core module"
