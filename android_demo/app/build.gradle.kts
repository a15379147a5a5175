import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "io.mobileseg.demo"
    compileSdk = 35

    defaultConfig {
        applicationId = "io.mobileseg.demo"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
    }

    // The model is memory-mapped straight from the APK (AssetManager.openFd), which only works
    // for assets stored uncompressed.
    androidResources {
        noCompress += "tflite"
    }
}

// Kotlin's compilerOptions DSL (kotlinOptions is deprecated since Kotlin 2.0).
kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_11)
    }
}

dependencies {
    implementation(project(":core"))

    implementation("androidx.core:core-ktx:1.15.0")
    implementation("androidx.appcompat:appcompat:1.7.0")
    implementation("androidx.lifecycle:lifecycle-runtime-ktx:2.8.7")
    implementation("com.google.android.material:material:1.12.0")

    val camerax = "1.4.2"
    implementation("androidx.camera:camera-core:$camerax")
    implementation("androidx.camera:camera-camera2:$camerax")
    implementation("androidx.camera:camera-lifecycle:$camerax")
    implementation("androidx.camera:camera-view:$camerax")

    // LiteRT (formerly TensorFlow Lite): the classic org.tensorflow.lite.Interpreter API with
    // signature runners, and its GPU delegate. litert-api and litert-gpu-api are listed explicitly:
    // without them some 1.x releases fail at run time (InterpreterFactoryImpl, GpuDelegateFactory$Options).
    // 1.4.0 ships 16 KB-aligned native libraries (Android 15+ devices with 16 KB pages).
    val litert = "1.4.0"
    implementation("com.google.ai.edge.litert:litert:$litert")
    implementation("com.google.ai.edge.litert:litert-api:$litert")
    implementation("com.google.ai.edge.litert:litert-gpu:$litert")
    implementation("com.google.ai.edge.litert:litert-gpu-api:$litert")
}
