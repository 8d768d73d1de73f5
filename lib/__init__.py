"""The class library, written in the hosted language (.som files beside this one).
This package holds no Python code; it exists so the library ships with the VM."""
