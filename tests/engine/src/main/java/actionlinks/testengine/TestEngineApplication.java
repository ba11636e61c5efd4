package actionlinks.testengine;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;

/**
 * Camunda 7 or Operaton (by Maven profile) with its REST API on H2, started by the test
 * fixtures on a free port.
 */
@SpringBootApplication
public class TestEngineApplication {
  public static void main(String[] args) {
    SpringApplication.run(TestEngineApplication.class, args);
  }
}
