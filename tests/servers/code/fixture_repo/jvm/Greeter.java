package com.example.jvm;

/** Greets people. */
public class Greeter {
    private final String greeting;

    public Greeter(String greeting) {
        this.greeting = greeting;
    }

    /** Returns the greeting for a name. */
    public String greet(String name) {
        return format(greeting, name);
    }

    private static String format(String greeting, String name) {
        return greeting + ", " + name;
    }

    interface Listener {
        void onGreet(String name);
    }
}
