-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
-- Host: localhost    Database: yourls
-- ------------------------------------------------------
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET TIME_ZONE='+00:00' */;

--
-- Table structure for table `yourls_log`
--

DROP TABLE IF EXISTS `yourls_log`;
CREATE TABLE `yourls_log` (
  `click_id` int NOT NULL AUTO_INCREMENT,
  `click_time` datetime NOT NULL,
  `shorturl` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `referrer` varchar(200) NOT NULL,
  PRIMARY KEY (`click_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

LOCK TABLES `yourls_log` WRITE;
INSERT INTO `yourls_log` VALUES (1,'2024-01-05 10:00:00','ozh','direct; not a link'),(2,'2024-01-05 10:01:00','ozh','https://a.example/');
UNLOCK TABLES;

--
-- Table structure for table `yourls_options`
--

CREATE TABLE `yourls_options` (
  `option_id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `option_name` varchar(64) NOT NULL DEFAULT '',
  `option_value` longtext NOT NULL,
  PRIMARY KEY (`option_id`,`option_name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO `yourls_options` VALUES (1,'version','1.9.2'),(2,'active_plugins','a:1:{i:0;s:20:\"plugin);\";}');

--
-- Table structure for table `yourls_url`
--

DROP TABLE IF EXISTS `yourls_url`;
CREATE TABLE `yourls_url` (
  `keyword` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `url` text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  `title` text,
  `timestamp` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP,
  `ip` varchar(41) NOT NULL,
  `clicks` int unsigned NOT NULL,
  PRIMARY KEY (`keyword`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

LOCK TABLES `yourls_url` WRITE;
/*!40000 ALTER TABLE `yourls_url` DISABLE KEYS */;
INSERT INTO `yourls_url` VALUES ('ozh','http://ozh.org/','ozh.org — Ozh\'s blog','2024-01-02 03:04:05','127.0.0.1',2),('yourls','https://yourls.org/','YOURLS: Your Own URL Shortener','2024-01-03 00:00:00','10.0.0.1',1530),('sql1','https://example.com/semi;colon','It''s \"quoted\"\\n','2024-01-04 12:00:00','::1',0),('notitle','https://example.com/n',NULL,'2024-01-05 00:00:00','127.0.0.1',7);
/*!40000 ALTER TABLE `yourls_url` ENABLE KEYS */;
UNLOCK TABLES;

-- phpMyAdmin writes a column list and one row a line
INSERT INTO `yourls_url` (`keyword`, `url`, `title`, `timestamp`, `ip`, `clicks`) VALUES
('pma1', 'https://example.net/pma', 'From phpMyAdmin', '2024-02-01 08:30:00', '192.0.2.1', 5),
('pma2', 'https://example.net/pma2', '', '2024-02-02 08:30:00', '192.0.2.1', 0);
