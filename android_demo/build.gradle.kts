// Plugin versions for every module; each module applies what it needs.
// AGP 8.7 needs Gradle >= 8.9 and JDK 17 and supports compileSdk 35.
plugins {
    id("com.android.application") version "8.7.3" apply false
    id("org.jetbrains.kotlin.android") version "2.0.21" apply false
}
