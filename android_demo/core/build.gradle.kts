// Plain JVM library: the app's logic (contract, tracker state loop, image -> tensor, box -> mask,
// overlay, view mapping, frame clock). No Android imports, so it builds and tests on any JDK.
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_11
    targetCompatibility = JavaVersion.VERSION_11
}

tasks.withType<JavaCompile>().configureEach {
    options.release.set(11) // the same flag the repository's tests compile with (javac --release 11)
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}
