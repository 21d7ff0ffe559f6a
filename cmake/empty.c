/* placeholder so an empty layer still makes a library */
typedef int shorty_empty_unit;
