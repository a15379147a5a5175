"""What a user of the Android demo app (android_demo/) meets before the app runs: the Gradle wrapper
that README's build steps call, and the compile check of the app's Kotlin against declaration stubs
of the Android, AndroidX, CameraX and LiteRT API it uses (android_demo/compile-check), with negative
controls proving that the check catches a wrong API name, a nullability mistake and a missing
resource. Also the manifest's camera declaration and the launcher icon.

The compile check needs a JDK and kotlinc 2.0.21 (``npm install --prefix .kotlinc
kotlin-compiler@2.0.21`` in the repository root; ``.ci/run`` does this), and links the resources
with Debian's aapt where ``aapt`` and ``android-framework-res`` are installed. Without the
compiler those tests are skipped and say why.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "android_demo"
WRAPPER = APP / "gradle" / "wrapper"
CHECK = APP / "compile-check" / "check.sh"

# Gradle's published SHA-256 of gradle-wrapper.jar as Gradle 8.10 to 8.12.1 write it (the committed jar was
# written by Gradle 8.10.2), and of the gradle-8.9-bin.zip distribution the properties ask for.
WRAPPER_JAR_SHA256 = "2db75c40782f5e8ba1fc278a5574bab070adccb2d21ca5a6e5ed840888448046"
GRADLE_8_9_BIN_SHA256 = "d725d707bfabd4dfdc958c624003b3c80accc03f7037b5122c4b1d0ef15cecab"
# The lowest Gradle each Android Gradle plugin line runs on (the plugin's release notes).
AGP_MIN_GRADLE = {(8, 5): (8, 7), (8, 6): (8, 7), (8, 7): (8, 9), (8, 8): (8, 10), (8, 9): (8, 11)}


def _properties(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip().replace("\\:", ":") for key, value in pairs}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


# ---- Gradle wrapper ---------------------------------------------------------------------------


def test_wrapper_files_are_there_and_the_script_is_executable() -> None:
    for name in ("gradlew", "gradlew.bat", "gradle/wrapper/gradle-wrapper.jar", "gradle/wrapper/gradle-wrapper.properties"):
        assert (APP / name).is_file(), f"android_demo/{name} is missing: README's ./gradlew assembleDebug would fail"
    assert os.access(APP / "gradlew", os.X_OK), "android_demo/gradlew must be executable (git keeps the bit: mode 100755)"
    assert (APP / "gradlew").read_text().startswith("#!/bin/sh")
    assert b"\r\n" in (APP / "gradlew.bat").read_bytes(), "gradlew.bat keeps Windows line endings"
    for script in ("gradlew", "gradlew.bat"):
        assert "org.gradle.wrapper.GradleWrapperMain" in (APP / script).read_text()


def test_wrapper_jar_is_gradles_own() -> None:
    jar = WRAPPER / "gradle-wrapper.jar"
    assert hashlib.sha256(jar.read_bytes()).hexdigest() == WRAPPER_JAR_SHA256, "not the wrapper jar Gradle publishes"
    with zipfile.ZipFile(jar) as archive:
        assert "org/gradle/wrapper/GradleWrapperMain.class" in archive.namelist()
    assert jar.stat().st_size < 100_000


def test_wrapper_properties_name_the_gradle_the_android_plugin_needs() -> None:
    props = _properties(WRAPPER / "gradle-wrapper.properties")
    url = props["distributionUrl"]
    match = re.fullmatch(r"https://services\.gradle\.org/distributions/gradle-([0-9.]+)-bin\.zip", url)
    assert match, url
    gradle = _version(match.group(1))
    agp = re.search(r'id\("com\.android\.application"\) version "([0-9.]+)"', (APP / "build.gradle.kts").read_text())
    assert agp, "android_demo/build.gradle.kts names no Android Gradle plugin version"
    line = _version(agp.group(1))[:2]
    assert line in AGP_MIN_GRADLE, f"add the Gradle that AGP {agp.group(1)} needs to AGP_MIN_GRADLE"
    assert gradle >= AGP_MIN_GRADLE[line], f"AGP {agp.group(1)} needs Gradle >= {AGP_MIN_GRADLE[line]}, the wrapper names {gradle}"
    assert gradle == (8, 9) and props["distributionSha256Sum"] == GRADLE_8_9_BIN_SHA256
    readme = (APP / "README.md").read_text()
    assert "./gradlew assembleDebug" in readme and "Gradle 8.9" in readme
    assert "gradle wrapper --gradle-version" not in readme, "README must not ask users to generate the wrapper any more"


@pytest.mark.skipif(shutil.which("javac") is None or shutil.which("jar") is None, reason="no JDK (javac, jar) to build a stand-in Gradle")
def test_gradlew_starts_the_gradle_its_properties_name(tmp_path: Path) -> None:
    """The committed gradlew and jar, run offline: a stand-in Gradle 8.9 distribution served from a file URL
    (same layout as the real one: gradle-8.9/lib/gradle-launcher-8.9.jar with org.gradle.launcher.GradleMain) is
    downloaded, checked against distributionSha256Sum, unpacked and started with the task; a wrong checksum is
    refused before anything runs."""
    source = tmp_path / "src" / "org" / "gradle" / "launcher" / "GradleMain.java"
    source.parent.mkdir(parents=True)
    source.write_text("package org.gradle.launcher;\npublic class GradleMain { public static void main(String[] a) {"
                      " System.out.println(\"stand-in gradle 8.9: \" + String.join(\" \", a)); } }\n")
    subprocess.run(["javac", "--release", "8", "-nowarn", "-d", str(tmp_path / "classes"), str(source)], check=True, capture_output=True)
    dist = tmp_path / "dist" / "gradle-8.9"
    (dist / "lib").mkdir(parents=True)
    (dist / "bin").mkdir()
    (dist / "bin" / "gradle").write_text("#!/bin/sh\n")
    subprocess.run(["jar", "cf", str(dist / "lib" / "gradle-launcher-8.9.jar"), "-C", str(tmp_path / "classes"), "."], check=True)
    archive = tmp_path / "gradle-8.9-bin.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(dist.parent.rglob("*")):
            out.write(path, path.relative_to(dist.parent).as_posix())
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()

    def run(checksum: str) -> subprocess.CompletedProcess[str]:
        project = tmp_path / f"project-{checksum[:8]}"
        (project / "gradle" / "wrapper").mkdir(parents=True)
        shutil.copy2(APP / "gradlew", project / "gradlew")
        shutil.copy2(WRAPPER / "gradle-wrapper.jar", project / "gradle" / "wrapper" / "gradle-wrapper.jar")
        text = (WRAPPER / "gradle-wrapper.properties").read_text()
        text = re.sub(r"(?m)^distributionUrl=.*$", lambda _: "distributionUrl=" + archive.as_uri().replace(":", "\\:"), text)
        text = re.sub(r"(?m)^distributionSha256Sum=.*$", "distributionSha256Sum=" + checksum, text)
        (project / "gradle" / "wrapper" / "gradle-wrapper.properties").write_text(text)
        env = {**os.environ, "GRADLE_USER_HOME": str(project / "home"), "GRADLE_OPTS": "", "JAVA_OPTS": ""}
        return subprocess.run(["./gradlew", "assembleDebug"], cwd=project, env=env, capture_output=True, text=True, timeout=120)

    done = run(digest)
    assert done.returncode == 0 and "stand-in gradle 8.9: assembleDebug" in done.stdout, done.stdout + done.stderr
    refused = run("0" * 64)
    assert refused.returncode != 0 and "Verification of Gradle distribution failed" in refused.stdout + refused.stderr
    assert "stand-in gradle" not in refused.stdout


# ---- manifest and resources -------------------------------------------------------------------


def test_manifest_declares_the_back_camera_it_uses_as_optional_and_has_an_icon() -> None:
    manifest = (APP / "app/src/main/AndroidManifest.xml").read_text()
    assert re.search(r'<uses-feature\s+android:name="android\.hardware\.camera"\s+android:required="false"\s*/>', manifest), \
        "the CAMERA permission implies android.hardware.camera required=true unless declared otherwise"
    assert "android.hardware.camera.any" not in manifest, "the app uses the back camera only"
    assert "DEFAULT_BACK_CAMERA" in (APP / "app/src/main/java/io/mobileseg/demo/MainActivity.kt").read_text()
    assert 'android:icon="@mipmap/ic_launcher"' in manifest
    assert (APP / "app/src/main/res/mipmap-anydpi-v26/ic_launcher.xml").is_file()
    gradle = (APP / "app/build.gradle.kts").read_text()
    assert not re.search(r"kotlinOptions\s*\{", gradle) and "compilerOptions {" in gradle


# ---- compile check of the app's Kotlin ----------------------------------------------------------


def _check(main: Path | None, out: Path) -> subprocess.CompletedProcess[str]:
    args = ["bash", str(CHECK)] + ([str(main)] if main else [])
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ, "COMPILE_CHECK_OUT": str(out)})
    if done.returncode == 77:
        pytest.skip(done.stderr.strip() or "the compile check's toolchain is missing")
    return done


def test_app_kotlin_compiles_against_the_api_stubs(tmp_path: Path) -> None:
    done = _check(None, tmp_path)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text
    kotlin = sorted(p.name for p in (APP / "app/src/main/java").rglob("*.kt"))
    assert f"OK, {len(kotlin)} Kotlin files compiled with kotlinc 2.0.21 -Werror" in text, text
    classes = {p.stem for p in (tmp_path / "kotlin").rglob("*.class")}
    assert {"MainActivity", "Segmenter", "TrackingLoop", "ModelLoader", "OverlayView", "MaskFrame"} <= classes
    if shutil.which("aapt") and Path("/usr/share/android-framework-res/framework-res.apk").is_file():
        assert "aapt linked AndroidManifest.xml and res/" in text, text


MUTATIONS = [  # (file, what, replacement, the compiler's complaint)
    ("Segmenter.kt", "interpreter.runSignature(", "interpreter.runSignatures(", "unresolved reference 'runSignatures'"),
    ("MainActivity.kt", "ImageAnalysis.STRATEGY_KEEP_ONLY_LATEST", "ImageAnalysis.STRATEGY_KEEP_LATEST",
     "unresolved reference 'STRATEGY_KEEP_LATEST'"),
    ("MainActivity.kt", "        val viewPort = preview.viewPort\n", "        val viewPort = preview.viewPort\n        group.setViewPort(preview.viewPort)\n",
     "actual type is 'androidx.camera.core.ViewPort?', but 'androidx.camera.core.ViewPort' was expected"),
    ("TrackingLoop.kt", "val crop = image.cropRect", "val crop = image.cropRectangle", "unresolved reference 'cropRectangle'"),
]


def test_a_wrong_api_name_or_nullability_fails_the_check(tmp_path: Path) -> None:
    main = tmp_path / "main"
    shutil.copytree(APP / "app/src/main", main)
    for file, old, new, _ in MUTATIONS:
        path = next(main.rglob(file))
        text = path.read_text()
        assert text.count(old) == 1, f"test out of date: {old!r} is not once in {file}"
        path.write_text(text.replace(old, new))
    done = _check(main, tmp_path / "out")
    text = done.stdout + done.stderr
    assert done.returncode == 1 and "FAILED, the app's Kotlin does not compile against the API stubs" in text, text
    for file, _, _, complaint in MUTATIONS:
        assert complaint in text and file in text, f"{complaint} ({file}) not reported:\n{text}"
    assert text.count("error:") == len(MUTATIONS), text


@pytest.mark.skipif(not (shutil.which("aapt") and Path("/usr/share/android-framework-res/framework-res.apk").is_file()),
                    reason="aapt or android-framework-res not installed (Debian: apt-get install aapt android-framework-res)")
def test_a_missing_resource_fails_the_link(tmp_path: Path) -> None:
    main = tmp_path / "main"
    shutil.copytree(APP / "app/src/main", main)
    strings = main / "res/values/strings.xml"
    text = strings.read_text()
    assert text.count('<string name="reset">') == 1
    strings.write_text(re.sub(r'\s*<string name="reset">[^<]*</string>', "", text))
    done = _check(main, tmp_path / "out")
    text = done.stdout + done.stderr
    assert done.returncode == 1 and "aapt could not link" in text and "reset" in text, text


def test_stubs_are_declarations_only() -> None:
    """Every method and constructor of the stubs throws at once: they are compile-time declarations, no code of the libraries."""
    allowed = re.compile(r'\{ (super\([a-z]*\); )?throw new RuntimeException\("stub"\); \}')
    for source in (APP / "compile-check/stubs").rglob("*.java"):
        text = source.read_text()
        assert "return " not in text, f"{source.name}: a stub returns something"
        for line in text.splitlines():
            if re.search(r"\)\s*(throws [\w., ]+)?\s*\{", line):  # a method or constructor with a body
                assert allowed.search(line), f"{source.name}: body is not just a stub: {line.strip()}"
